/**
 * `dynomesh up` as a user starts it, for end-to-end tests: a child process with
 * its own HOME (so its own ~/.dynomesh: etcd data, slugs, cluster key), CLI
 * config, router and API ports and dyno-node dir; the CLI and real git against
 * it; requests through its router by Host header. `stop()` is Ctrl-C, bounded:
 * a hung `up` is killed and its daemons reaped by `dynomesh down`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster } from '../../cluster/client.ts';
import { freePort } from '../../lib/ports.ts';
import { CONTROL_USER } from '../../cluster/etcd-auth.ts';
import { clientCert } from '../../cluster/pki.ts';
import { readState } from '../../cli/up/state.ts';
import { eventually } from './etcd.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin/dynomesh.js');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; killed after `timeoutMs`, so a hang fails the step instead of the suite. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const ms = opts.timeoutMs ?? 120_000;
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${ms} ms]`;
      p.kill('SIGKILL');
    }, ms);
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    p.stdin.on('error', () => undefined);
    p.stdin.end(opts.input ?? '');
  });
}

export interface UpOptions {
  /** Prefix of the temp dir. */
  name: string;
  /** Extra environment for `up` and so for every daemon it starts (timeouts, DYNOMESH_BUILD_DIR...). */
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
  /** Extra flags of `dynomesh up` (`--no-addons`). */
  args?: string[];
}

export class Up {
  /** Everything of this cluster: HOME, CLI config, the dyno-node's dir. Traversable (0711), as dyno users need as root. */
  readonly dir: string;
  /** `up`'s own home: ~/.dynomesh under the temp HOME. */
  readonly home: string;
  readonly nodeDir: string;
  readonly env: NodeJS.ProcessEnv;
  output = '';
  private proc: ChildProcess | undefined;

  private constructor(private readonly o: UpOptions, readonly routerPort: number, readonly apiPort: number, readonly httpsPort: number) {
    this.dir = mkdtempSync(join(tmpdir(), `${o.name}-`));
    chmodSync(this.dir, 0o711);
    this.nodeDir = join(this.dir, 'node');
    mkdirSync(this.nodeDir, { mode: 0o711 });
    mkdirSync(join(this.dir, 'home'));
    this.home = join(this.dir, 'home', '.dynomesh');
    this.env = {
      PATH: process.env.PATH,
      HOME: join(this.dir, 'home'),
      DYNOMESH_CONFIG: join(this.dir, 'cli.json'),
      DYNOMESH_NODE_DIR: this.nodeDir,
      DYNOMESH_ROUTER_HTTPS_PORT: String(httpsPort), // not 5443: several clusters may run on one machine
      DYNOMESH_LOG_LEVEL: 'info', // `up` waits for the dyno-node's info line
      GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 'up', GIT_AUTHOR_EMAIL: 'up@example.com', GIT_COMMITTER_NAME: 'up', GIT_COMMITTER_EMAIL: 'up@example.com',
      ...o.env,
    };
  }

  /** Starts `dynomesh up --quiet` and waits for its banner. */
  static async start(o: UpOptions): Promise<Up> {
    const up = new Up(o, await freePort(), await freePort(), await freePort());
    await up.launch().catch(async (err: Error) => {
      await up.stop();
      up.remove();
      throw err;
    });
    return up;
  }

  /** `dynomesh up` again on the same home and ports, after `stop()` or a `dynomesh down`; `args` replace the flags it started with. */
  async restart(args?: string[]): Promise<void> {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) throw new Error('dynomesh up is still running');
    await this.launch(args);
  }

  private async launch(args = this.o.args ?? []): Promise<void> {
    const p = spawn(process.execPath, [BIN, 'up', '--port', String(this.routerPort), '--api-port', String(this.apiPort), '--quiet', ...args], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = p;
    this.output = '';
    p.stdout!.on('data', (c: Buffer) => (this.output += c.toString()));
    p.stderr!.on('data', (c: Buffer) => (this.output += c.toString()));
    await eventually(() => {
      if (p.exitCode !== null) throw new Error(`dynomesh up exited ${p.exitCode}: ${this.output}`);
      return this.output.includes('dynomesh is up.');
    }, this.o.startTimeoutMs ?? 90_000, 'dynomesh up');
  }

  cli(...args: string[]): Promise<Run> {
    return this.cliIn(this.dir, ...args);
  }

  /** The CLI in `cwd` (a git work tree: `apps:create` adds its remote there). */
  cliIn(cwd: string, ...args: string[]): Promise<Run> {
    return run(process.execPath, [BIN, ...args], { env: this.env, cwd });
  }

  /** The CLI, asserting exit 0. */
  async ok(...args: string[]): Promise<Run> {
    const r = await this.cli(...args);
    if (r.code !== 0) throw new Error(`dynomesh ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r;
  }

  /** git in `cwd` as this cluster's user (the remote's credential helper reads the CLI config). */
  git(cwd: string, args: string[], timeoutMs = 180_000): Promise<Run> {
    return run('git', args, { cwd, env: this.env, timeoutMs });
  }

  /** `git init` + commit everything in `dir` on main. */
  async commitAll(dir: string, message: string): Promise<void> {
    for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-qm', message]]) {
      const r = await this.git(dir, args);
      if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    }
  }

  /** A request through the router as `<app>.localhost`. */
  get(app: string, path = '/', timeoutMs = 30_000): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.routerPort, path, headers: { host: `${app}.localhost` }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`request ${app}${path.slice(0, 60)} timed out`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** GET through the router, 200 expected, JSON back. */
  async json<T>(app: string, path: string, timeoutMs = 30_000): Promise<T> {
    const r = await this.get(app, path, timeoutMs);
    if (r.status !== 200) throw new Error(`${app} ${path.slice(0, 80)}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
    return JSON.parse(r.body) as T;
  }

  /** A client on the cluster's etcd, as control (its certificate: etcd takes no other client); closed by the caller. */
  etcd(): Cluster {
    const port = readState(this.home).etcd?.clientPort;
    if (!port) throw new Error(`no etcd port in ${this.home}/up.json`);
    const c = clientCert(join(this.home, 'pki'), CONTROL_USER);
    return new Cluster({
      endpoints: [`https://127.0.0.1:${port}`], prefix: '/dynomesh/', callTimeoutMs: 5000,
      tls: { ca: readFileSync(c.ca), cert: readFileSync(c.cert), key: readFileSync(c.key) },
    });
  }

  /** Ctrl-C, waited for up to `graceMs`; then SIGKILL and `dynomesh down` (stops the daemons it left). Never throws. */
  async stop(graceMs = 90_000): Promise<number | null> {
    const p = this.proc;
    this.proc = undefined;
    if (!p) return null;
    let code: number | null | undefined = p.exitCode ?? (p.signalCode ? null : undefined);
    if (code === undefined) {
      const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
      p.kill('SIGINT');
      let timer: NodeJS.Timeout | undefined;
      code = await Promise.race([exited, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), graceMs)))]);
      clearTimeout(timer);
      if (code === undefined) {
        p.kill('SIGKILL');
        await exited;
        code = null;
      }
    }
    // Whatever `up` left (a crash, or the SIGKILL above): `down` reaps the daemons up.json lists.
    await run(process.execPath, [BIN, 'down'], { env: this.env, timeoutMs: 60_000 }).catch(() => undefined);
    return code;
  }

  /** Removes the temp dir (after `stop`). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
