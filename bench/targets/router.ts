/**
 * The dynomesh router as a target: a real etcd (started once per bench, pinned with the
 * load generator) holding RoutingApp + Endpoint records written through the cluster
 * contract, and a fresh `dynomesh router` process per round, pinned to the proxy core.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'node:http';
import { Cluster } from '../../cluster/client.ts';
import { EtcdServer } from '../../cluster/etcd-server.ts';
import { freePort } from '../../lib/ports.ts';
import type { Endpoint, RoutingApp } from '../../cluster/records.ts';
import { adoptPid, forgetPid, startPinned, tailOf, waitForPort } from '../proc.ts';
import { BENCH_APP, BENCH_HOST, TargetUnavailable, type Target, type TargetContext, type TlsFiles } from './target.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DYNOMESH_BIN = join(root, 'bin', 'dynomesh.js');
export const ROUTER_PREFIX = '/dynomesh-bench/';

/** Why the router cannot run here, or undefined when `dynomesh router --help` works. */
export function routerUnavailableReason(): string | undefined {
  const r = routerHelp();
  if (r.status === 0 && /--port/.test(r.stdout)) return undefined;
  const why = (r.stderr || r.stdout || '').trim().split('\n').pop() ?? '';
  return `\`dynomesh router\` is not available yet (router/ not built or not registered in cli/daemons.ts)${why ? `: ${why}` : ''}`;
}

let help: { status: number | null; stdout: string; stderr: string } | undefined;
function routerHelp() {
  return (help ??= spawnSync(process.execPath, [DYNOMESH_BIN, 'router', '--help'], { encoding: 'utf8', timeout: 20_000 }));
}

/** Whether this router build has `--workers` (one uWS app per worker thread). */
export function routerHasWorkers(): boolean {
  return /--workers\b/.test(routerHelp().stdout ?? '');
}

/**
 * One etcd + client for the whole bench; router processes come and go per round. With
 * `logService`, a `dynomesh control` runs too (beside etcd, on the load generator's core),
 * so the router ships its request lines over TCP as in a real cluster instead of keeping
 * 20,000 and counting the rest as dropped.
 */
export class RouterEnv {
  private control: { stop(): Promise<void>; pid: number } | undefined;
  private constructor(readonly etcd: EtcdServer, readonly cluster: Cluster, readonly prefix: string) {}

  static async start(core: string | undefined, dir: string, prefix = ROUTER_PREFIX, opts: { logService?: boolean } = {}): Promise<RouterEnv> {
    const etcd = new EtcdServer({ dataDir: join(dir, `etcd-${prefix.replace(/\W+/g, '')}`) });
    await etcd.start();
    adoptPid(etcd.pid);
    if (core && etcd.pid) spawnSync('taskset', ['-a', '-p', '-c', core, String(etcd.pid)]);
    const cluster = new Cluster({ endpoints: [etcd.endpoint], prefix, callTimeoutMs: 10_000 });
    const env = new RouterEnv(etcd, cluster, prefix);
    if (opts.logService) {
      try {
        await env.startLogService(core, dir);
      } catch (err) {
        await env.close();
        throw err;
      }
    }
    return env;
  }

  /** `dynomesh control` as the apps' log service; resolves once its member record says where logs go. */
  private async startLogService(core: string | undefined, dir: string): Promise<void> {
    const port = await freePort();
    const logFile = join(dir, 'control.log');
    const p = startPinned(core, process.execPath, [DYNOMESH_BIN, 'control', '--id', 'bench-control', '--listen', `127.0.0.1:${port}`,
      '--data-dir', join(dir, 'control'), '--cluster-key', join(dir, 'cluster.key')], {
      logFile, env: { ...process.env, DYNOMESH_ETCD: this.etcd.endpoint, DYNOMESH_PREFIX: this.prefix, DYNOMESH_LOG_LEVEL: 'warn' },
    });
    this.control = p;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const members = await this.cluster.list(this.cluster.keys.members());
      if (members.entries.some((e) => e.value.logs)) return;
      if (Date.now() > deadline) throw new Error(`dynomesh control (the log service) did not register within 30 s; its log: ${tailOf(logFile, 300)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async putApp(app = BENCH_APP): Promise<void> {
    const rec: RoutingApp = { app, affinity: 'ip', balanceFactor: 1.25, maintenance: false };
    await this.cluster.put(this.cluster.keys.routingApp(app), rec);
  }

  async putEndpoint(dyno: string, port: number, app = BENCH_APP, release = 1): Promise<void> {
    const rec: Endpoint = { app, dyno, node: 'bench', host: '127.0.0.1', port, release };
    await this.cluster.put(this.cluster.keys.endpoint(rec.node, app, dyno), rec);
  }

  async deleteEndpoint(dyno: string, app = BENCH_APP): Promise<void> {
    await this.cluster.delete(this.cluster.keys.endpoint('bench', app, dyno));
  }

  async close(): Promise<void> {
    await this.control?.stop();
    this.cluster.close();
    const pid = this.etcd.pid;
    await this.etcd.destroy();
    forgetPid(pid);
  }
}

/** A random certificates key file (the router needs one to serve HTTPS; the bench stores no app certificates). */
function benchCertsKey(dir: string): string {
  const f = join(dir, 'certs.key');
  if (!existsSync(f)) writeFileSync(f, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  return f;
}

/** Start a router process against `env`; resolves once it routes BENCH_HOST to a dyno. */
export async function startRouterProcess(env: RouterEnv, core: string | undefined, dir: string, workers: number, readyTimeoutMs = 15_000, tls?: TlsFiles) {
  const port = await freePort();
  const httpsPort = tls ? await freePort() : 0;
  const adminPort = await freePort();
  const logFile = join(dir, `router-${port}.log`);
  const args = [DYNOMESH_BIN, 'router', '--host', '127.0.0.1', '--admin-host', '127.0.0.1', '--etcd', env.etcd.endpoint, '--etcd-prefix', env.prefix,
    '--port', String(port), '--admin-port', String(adminPort), '--base-domain', 'localhost'];
  if (workers > 1) args.push('--workers', String(workers));
  // HTTPS with the bench certificate as the default (wrk's SNI is 127.0.0.1); no app certificates, so the certificates key opens nothing
  if (tls) args.push('--https-port', String(httpsPort), '--tls-cert', tls.certFile, '--tls-key', tls.keyFile, '--certs-key', benchCertsKey(dir));
  // The per-request log line stays on (it is part of the router's cost); it goes to the log file.
  const p = startPinned(core, process.execPath, args, { logFile, env: { ...process.env, DYNOMESH_LOG_FORMAT: 'json' } });
  try {
    await waitForPort(port, 'dynomesh router', { exited: p.exited, logFile, timeoutMs: Math.max(20_000, readyTimeoutMs) });
    await waitRouted(port, readyTimeoutMs);
    if (tls) await waitForPort(httpsPort, 'dynomesh router (HTTPS)', { exited: p.exited, logFile, timeoutMs: 10_000 });
  } catch (err) {
    await p.stop();
    // Not TargetUnavailable: a start failure may be passing (a tree being edited), so the next round tries again.
    const msg = (err as Error).message;
    throw new Error(msg.includes('last output') ? msg : `${msg}; router log: ${tailOf(logFile, 300)}`);
  }
  // One log line per request adds up to gigabytes over a full bench: drop it once stopped.
  const stop = async () => {
    await p.stop();
    rmSync(logFile, { force: true });
  };
  return { port, httpsPort, adminPort, pid: p.pid, stop, logFile };
}

/** GET / with the bench Host until the answer is a 200 from a dyno (the route has arrived). */
export async function waitRouted(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/hello', headers: { host: BENCH_HOST }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200 && res.headers['x-backend'] ? 'ok' : `status ${res.statusCode}`));
      });
      req.on('error', (e) => resolve(e.message));
      req.end();
    });
    if (last === 'ok') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`router never routed ${BENCH_HOST} to the backend (last: ${last})`);
}

let shared: RouterEnv | undefined;

export async function closeRouterEnv(): Promise<void> {
  await shared?.close();
  shared = undefined;
}

export async function routerEnv(ctx: Pick<TargetContext, 'placement' | 'dir'>): Promise<RouterEnv> {
  return (shared ??= await RouterEnv.start(ctx.placement.etcd, ctx.dir, ROUTER_PREFIX, { logService: true }));
}

export const router: Target = {
  name: 'router',
  async start(ctx) {
    const reason = routerUnavailableReason();
    if (reason) throw new TargetUnavailable('router', reason);
    if (ctx.routerWorkers > 1 && !routerHasWorkers()) {
      throw new TargetUnavailable(`router-${ctx.routerWorkers}w`, 'this router build has no --workers option yet (issue 5: one uWS app per worker thread)');
    }
    const env = await routerEnv(ctx);
    await env.putApp();
    await env.putEndpoint('web.1', ctx.backend.port);
    const core = ctx.routerWorkers > 1 ? ctx.placement.proxyWide : ctx.placement.proxy;
    const r = await startRouterProcess(env, core, ctx.dir, ctx.routerWorkers, 15_000, ctx.tls);
    return { name: ctx.routerWorkers > 1 ? `router-${ctx.routerWorkers}w` : 'router', port: ctx.tls ? r.httpsPort : r.port, pids: { router: r.pid }, stop: r.stop };
  },
};
