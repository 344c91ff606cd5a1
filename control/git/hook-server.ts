/**
 * The control side of the pre-receive hook: a unix socket (mode 0600, in the
 * data dir) that hook processes connect to. Each receive-pack request registers
 * a one-time secret naming the app and the authenticated user; a hook that
 * presents it gets its ref updates handed to `onPush` and the build output
 * streamed back in frames (see pre-receive.mjs). A hook that goes away aborts
 * the build.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../lib/log.ts';

export interface RefUpdate {
  old: string;
  new: string;
  ref: string;
}

export interface PushContext {
  app: string;
  user: string;
  repoDir: string;
}

export interface HookRequest {
  push: PushContext;
  refs: RefUpdate[];
  gitEnv: Record<string, string>;
  out: (chunk: Buffer) => void;
  signal: AbortSignal;
}

export type PushHandler = (req: HookRequest) => Promise<boolean>;

const OUTPUT = 1;
const EXIT = 2;

function frame(type: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

export class HookServer {
  private server: Server | undefined;
  private readonly pushes = new Map<string, PushContext>();
  private readonly sockets = new Set<Socket>();
  socketPath = '';
  private ownDir: string | undefined;

  constructor(private readonly runDir: string, private readonly onPush: PushHandler, private readonly log: Logger) {}

  async start(): Promise<void> {
    mkdirSync(this.runDir, { recursive: true, mode: 0o700 });
    let path = join(this.runDir, 'git-hook.sock');
    // sun_path holds 107 bytes; a deep data dir gets a private temp dir instead.
    if (Buffer.byteLength(path) > 100) {
      this.ownDir = mkdtempSync(join(tmpdir(), 'dynomesh-hook-'));
      path = join(this.ownDir, 'git-hook.sock');
    }
    rmSync(path, { force: true });
    this.server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(path, () => resolve());
    });
    chmodSync(path, 0o600);
    this.socketPath = path;
  }

  /** A one-time secret for one receive-pack request; `release()` it when the request ends. */
  register(push: PushContext): { secret: string; release: () => void } {
    const secret = randomBytes(24).toString('base64url');
    this.pushes.set(secret, push);
    return { secret, release: () => this.pushes.delete(secret) };
  }

  private accept(s: Socket): void {
    this.sockets.add(s);
    let head = '';
    let started = false;
    const abort = new AbortController();
    s.on('close', () => {
      this.sockets.delete(s);
      abort.abort();
    });
    s.on('error', () => undefined);
    s.on('data', (chunk: Buffer) => {
      if (started) return;
      head += chunk.toString('utf8');
      if (head.length > 1024 * 1024) return s.destroy();
      const nl = head.indexOf('\n');
      if (nl < 0) return;
      started = true;
      void this.serve(s, head.slice(0, nl), abort);
    });
  }

  private async serve(s: Socket, line: string, abort: AbortController): Promise<void> {
    const out = (b: Buffer) => {
      if (!s.destroyed && b.length) s.write(frame(OUTPUT, b));
    };
    const finish = (ok: boolean) => {
      if (!s.destroyed) s.end(frame(EXIT, Buffer.from([ok ? 0 : 1])));
    };
    let msg: { secret?: unknown; refs?: unknown; gitEnv?: unknown; repo?: unknown };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return finish(false);
    }
    const push = typeof msg.secret === 'string' ? this.pushes.get(msg.secret) : undefined;
    if (!push) {
      out(Buffer.from(' !     This push is not known to the control plane (expired or forged); nothing was deployed.\n'));
      return finish(false);
    }
    this.pushes.delete(msg.secret as string); // one hook run per secret
    const refs = Array.isArray(msg.refs) ? (msg.refs as RefUpdate[]).filter((r) => r && typeof r.ref === 'string' && /^[0-9a-f]{40}$/.test(r.old) && /^[0-9a-f]{40}$/.test(r.new)) : [];
    // Only the quarantine paths inside this app's repo are accepted: the hook runs there.
    const gitEnv: Record<string, string> = {};
    const env = (msg.gitEnv ?? {}) as Record<string, unknown>;
    for (const k of ['GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_QUARANTINE_PATH']) {
      const v = env[k];
      if (typeof v === 'string' && v.split(':').every((p) => p.startsWith(push.repoDir + '/') || p === push.repoDir)) gitEnv[k] = v;
    }
    try {
      finish(await this.onPush({ push, refs, gitEnv, out, signal: abort.signal }));
    } catch (err) {
      this.log.error({ app: push.app, err: (err as Error).message }, 'push-hook-failed');
      out(Buffer.from(` !     Internal error in the build service: ${(err as Error).message}\n`));
      finish(false);
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    if (this.socketPath) rmSync(this.socketPath, { force: true });
    if (this.ownDir) rmSync(this.ownDir, { recursive: true, force: true });
  }
}
