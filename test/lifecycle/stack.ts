/**
 * A whole dynomesh on loopback for deploy-lifecycle tests: a real etcd, one or more
 * `dynomesh control` processes, a router and a dyno-node (no containers, so pushes
 * take seconds), the CLI as a user runs it, real `git push`, and requests through
 * the router by Host header.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from '../../cluster/client.ts';
import { freePort } from '../../lib/ports.ts';
import { ADMIN, git, remote } from '../build/support.ts';
import { BIN, Daemon } from '../logs/procs.ts';
import { eventually, type TestEtcd } from '../support/etcd.ts';
import { listEndpointsOf } from '../support/dyno-keys.ts';
import { enrolInto } from '../support/node-credential.ts';

export interface StackOptions {
  controls?: number;
  /** Extra flags for every control (e.g. --release-phase-timeout 5s). */
  controlArgs?: string[];
  /** Extra environment for every daemon (DYNOMESH_ADDON_REDIS...). */
  env?: NodeJS.ProcessEnv;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export class Stack {
  readonly dir: string;
  readonly cluster: Cluster;
  readonly controls: Daemon[] = [];
  readonly daemons: Daemon[] = [];
  readonly apiUrls: string[] = [];
  routerPort = 0;
  private env: NodeJS.ProcessEnv = {};

  private constructor(etcd: TestEtcd) {
    this.dir = mkdtempSync(join(tmpdir(), 'dm-lifecycle-'));
    chmodSync(this.dir, 0o711);
    this.cluster = etcd.cluster();
  }

  static async start(etcd: TestEtcd, o: StackOptions = {}): Promise<Stack> {
    const s = new Stack(etcd);
    try {
      await s.boot(etcd, o);
    } catch (err) {
      const dump = s.dump();
      await s.stop();
      throw new Error(`${(err as Error).message}\n${dump}`);
    }
    return s;
  }

  private async boot(etcd: TestEtcd, o: StackOptions): Promise<void> {
    mkdirSync(join(this.dir, 'node'), { mode: 0o711 });
    const key = join(this.dir, 'cluster.key');
    writeFileSync(key, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    this.routerPort = await freePort();
    this.env = {
      PATH: process.env.PATH, HOME: this.dir, DYNOMESH_LOG_LEVEL: 'info', DYNOMESH_BOOTSTRAP_TOKEN: ADMIN, DYNOMESH_ISOLATION: 'off',
      DYNOMESH_ETCD: etcd.server.endpoint, DYNOMESH_PREFIX: this.cluster.keys.prefix, DYNOMESH_CLUSTER_KEY: key,
      // Builds in this stack's own dir, not the host's shared /var/lib/dynomesh/builds.
      DYNOMESH_BUILD_DIR: join(this.dir, 'builds'), ...o.env,
    };
    for (let i = 0; i < (o.controls ?? 1); i++) await this.addControl(`c${i + 1}`, o.controlArgs ?? []);
    this.daemons.push(new Daemon('router', ['router', '--port', String(this.routerPort), '--admin-port', 'off'], this.env));
    await enrolInto(this.cluster, key, 'n1', join(this.dir, 'node'));
    this.daemons.push(new Daemon('dyno-node', ['dyno-node', '--node-id', 'n1', '--data-dir', join(this.dir, 'node'), '--memory', '4096', '--lease-ttl', '3', '--boot-timeout', '30s', '--stop-timeout', '3s', '--drain', '100ms'], this.env));
    await eventually(async () => (await this.cluster.list(this.cluster.keys.nodes())).entries.length === 1, 60_000, 'dyno-node registered');
  }

  /** Starts one more control instance (member id `id`) and waits until it serves. */
  async addControl(id: string, args: string[] = []): Promise<Daemon> {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const d = new Daemon(`control ${id}`, ['control', '--id', id, '--listen', `127.0.0.1:${port}`, '--data-dir', join(this.dir, `control-${id}`), '--lease-ttl', '2', '--router-port', String(this.routerPort), ...args], this.env);
    this.controls.push(d);
    this.daemons.push(d);
    this.apiUrls.push(url);
    await eventually(async () => (await fetch(`${url}/health`).catch(() => undefined))?.status === 200, 60_000, `control ${id} healthy`);
    return d;
  }

  get api(): string {
    return this.apiUrls[0]!;
  }

  /** The CLI as a user runs it (token and API from the environment). */
  cli(...args: string[]): Promise<CliRun> {
    return this.cliAt(this.api, ...args);
  }

  cliAt(apiUrl: string, ...args: string[]): Promise<CliRun> {
    return new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, HOME: this.dir, DYNOMESH_API_URL: apiUrl, DYNOMESH_API_KEY: ADMIN, DYNOMESH_LOG_LEVEL: 'warn' }, timeout: 120_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  }

  async ok(...args: string[]): Promise<CliRun> {
    const r = await this.cli(...args);
    if (r.code !== 0) throw new Error(`dynomesh ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r;
  }

  /** A git work tree with `files` committed on main (later commits with `commit`). */
  async repo(files: Record<string, string>): Promise<AppRepo> {
    const dir = mkdtempSync(join(this.dir, 'repo-'));
    const r = new AppRepo(dir);
    await r.run(['init', '-q', '-b', 'main']);
    await r.commit(files, 'initial');
    return r;
  }

  push(repo: AppRepo, app: string) {
    return git(repo.dir, ['push', '-f', remote(this.api, app), 'main'], 180_000);
  }

  /** GET through the router as `<app>.localhost`. */
  get(app: string, path = '/', timeoutMs = 10_000): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.routerPort, path, headers: { host: `${app}.localhost` }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end();
    });
  }

  /** The app's web dynos all run its current release (a roll is over). */
  settled(app: string, web = 1): Promise<true> {
    return eventually(async () => {
      const cur = await this.cluster.get(this.cluster.keys.current(app));
      const eps = (await listEndpointsOf(this.cluster, app)).entries.map((e) => e.value as { release: number });
      return eps.length === web && eps.every((e) => e.release === cur?.value.version) || undefined;
    }, 60_000, `${app} rolled to its current release`).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.dump()}`);
    }) as Promise<true>;
  }

  dump(): string {
    return this.daemons.map((d) => d.tail()).join('\n');
  }

  async stop(): Promise<void> {
    for (const d of [...this.daemons].reverse()) await d.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class AppRepo {
  constructor(readonly dir: string) {}

  async run(args: string[]): Promise<void> {
    const r = await git(this.dir, args);
    if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  }

  /** Writes `files` (relative paths) and commits them. */
  async commit(files: Record<string, string>, message: string): Promise<void> {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(this.dir, path, '..'), { recursive: true });
      writeFileSync(join(this.dir, path), text);
    }
    await this.run(['add', '-A']);
    await this.run(['commit', '-q', '--allow-empty', '-m', message]);
  }
}
