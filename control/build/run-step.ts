/**
 * Runs one buildpack executable (`bin/detect`, `bin/compile`, `bin/release`) in
 * its own process group with a clean environment, streaming its output as it
 * comes; an abort (time limit, push cancelled) kills the whole group.
 */
import { spawn } from 'node:child_process';

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
}

export interface StepResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
}

export class StepAborted extends Error {
  override name = 'StepAborted';
}

export function runStep(file: string, args: string[], o: StepOptions): Promise<StepResult> {
  return new Promise((resolve, reject) => {
    if (o.signal.aborted) return reject(new StepAborted(String(o.signal.reason ?? 'aborted')));
    const child = spawn(file, args, {
      cwd: o.cwd, env: o.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      ...(o.uid !== undefined ? { uid: o.uid, gid: o.gid ?? o.uid } : {}),
    });
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
