/**
 * Runs one buildpack executable (`bin/detect`, `bin/compile`, `bin/release`) with
 * a clean environment, streaming its output as it comes: in its own container
 * when the control isolates builds (`jail`), else in its own process group. An
 * abort (time limit, push cancelled) kills all of it; so does the step's end, so
 * nothing a step started in the background outlives it.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** A container for one step (sandbox.ts): `argv` runs it in the foreground; `destroy` leaves nothing behind. */
export interface StepBox {
  argv: [string, ...string[]];
  kill(signal: NodeJS.Signals): Promise<void>;
  destroy(): Promise<void>;
}

export interface StepJail {
  /** `readonly`: host paths also bound, read-only, at the same place (an operator's buildpack dir). */
  enter(file: string, args: string[], env: Record<string, string>, cwd: string, readonly?: string[]): Promise<StepBox>;
}

export interface StepOptions {
  cwd: string;
  env: Record<string, string>;
  signal: AbortSignal;
  /** stdout and stderr as they arrive (stdout only when `captureStdout` is off). */
  onOutput?: (chunk: Buffer) => void;
  /** Keep stdout for the caller instead of streaming it (detect's name, release's YAML). */
  captureStdout?: boolean;
  /** Run as this user (the control runs as root). */
  uid?: number;
  gid?: number;
  /** Run the step in a container (the uid/gid then apply inside it). */
  jail?: StepJail | undefined;
  /** With a jail: host paths the step may read. */
  readonly?: string[];
}

export interface StepResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
}

export class StepAborted extends Error {
  override name = 'StepAborted';
}

export async function runStep(file: string, args: string[], o: StepOptions): Promise<StepResult> {
  if (o.signal.aborted) throw new StepAborted(String(o.signal.reason ?? 'aborted'));
  const box = await o.jail?.enter(file, args, o.env, o.cwd, o.readonly);
  try {
    const child = box
      ? spawn(box.argv[0], box.argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } })
      : spawn(file, args, {
        cwd: o.cwd, env: o.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
        ...(o.uid !== undefined ? { uid: o.uid, gid: o.gid ?? o.uid } : {}),
      });
    return await collect(child, o, box);
  } finally {
    await box?.destroy();
  }
}

function collect(child: ChildProcess & { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream }, o: StepOptions, box: StepBox | undefined): Promise<StepResult> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let outSize = 0;
    child.stdout.on('data', (b: Buffer) => {
      if (o.captureStdout) {
        if (outSize < 1024 * 1024) out.push(b);
        outSize += b.length;
      } else o.onOutput?.(b);
    });
    child.stderr.on('data', (b: Buffer) => o.onOutput?.(b));
    const kill = () => {
      void box?.kill('SIGKILL');
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    o.signal.addEventListener('abort', kill, { once: true });
    child.on('error', (err) => {
      o.signal.removeEventListener('abort', kill);
      reject(err);
    });
    child.on('close', (code, sig) => {
      o.signal.removeEventListener('abort', kill);
      kill(); // anything the step left running in its group (background jobs) goes with it
      if (o.signal.aborted) return reject(new StepAborted(String(o.signal.reason ?? 'aborted')));
      resolve({ code, signal: sig, stdout: Buffer.concat(out).toString('utf8') });
    });
  });
}
