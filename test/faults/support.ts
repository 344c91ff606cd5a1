/**
 * Fault-suite helpers: a network-namespace cluster with short timeouts, an app
 * deployed with a real `git push`, the Platform API, and a bounded load loop
 * through both routers that reports sent / failed / p99 for one summary line.
 */
import { after, before } from 'node:test';
import { Agent, request } from 'node:http';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_PORT, NetnsCluster, ROUTER_PORT } from '../../deploy/netns/cluster.ts';
import { eventually } from '../support/etcd.ts';
import { apiCall } from '../support/api.ts';
import { git } from '../support/git.ts';
import { listEndpointsOf } from '../support/dyno-keys.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The test cluster: leases of 2-3 s, a 1 s router connect timeout, quick dyno stops. */
export async function startCluster(): Promise<NetnsCluster> {
  const c = new NetnsCluster({
    controlLeaseTtl: 2,
    nodeLeaseTtl: 3,
    logLevel: process.env.DYNOMESH_LOG_LEVEL ?? 'warn',
    extraArgs: {
      router: ['--connect-timeout', '1s', '--quarantine', '3s', '--first-byte-timeout', '15s', '--drain-timeout', '5s'],
      node: ['--boot-timeout', '30s', '--stop-timeout', '5s', '--drain', '1s'],
    },
  });
  await c.start();
  return c;
}

/** The Platform API of control `control` (c1 or c2) as the admin. */
export function api(c: NetnsCluster, method: string, path: string, body?: unknown, control = 'c1') {
  return apiCall(`http://${c.host(control).addr}:${API_PORT}`, c.adminToken, method, path, body);
}

/** A work tree of examples/node-hello, committed on main, whose answer names the dyno and a version tag. */
export type Repo = Awaited<ReturnType<typeof helloRepo>>;

/**
 * The file's fixture: before its tests a cluster with `app` deployed at `web` dynos (handed to
 * `got` as soon as it exists), after them the cluster and the repo gone, even if setup failed.
 */
export function deployedApp(app: string, got: (c: NetnsCluster, repo: Repo) => void, web = 3): void {
  let c: NetnsCluster | undefined;
  let repo: Repo | undefined;
  before(async () => {
    c = await startCluster();
    repo = await helloRepo('v1');
    got(c, repo);
    await deploy(c, app, repo.dir, web);
  });
  after(async () => {
    await c?.destroy();
    repo?.cleanup();
  });
}

export async function helloRepo(tag: string): Promise<{ dir: string; commit(tag: string): Promise<void>; cleanup(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'dm-faults-app-'));
  cpSync(join(ROOT, 'examples/node-hello'), dir, { recursive: true });
  const server = readFileSync(join(ROOT, 'examples/node-hello/server.js'), 'utf8');
  const commit = async (t: string) => {
    writeFileSync(join(dir, 'server.js'), server.replace('from node-hello on', `from node-hello ${t} on`));
    for (const args of [['add', '-A'], ['commit', '-q', '--allow-empty', '-m', t]]) {
      const r = await git(dir, args);
      if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    }
  };
  const init = await git(dir, ['init', '-q', '-b', 'main']);
  if (init.code !== 0) throw new Error(init.stderr);
  await commit(tag);
  return { dir, commit, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function remote(c: NetnsCluster, app: string, control = 'c1'): string {
  return `http://git:${c.adminToken}@${c.host(control).addr}:${API_PORT}/${app}.git`;
}

/** Creates the app (random affinity), pushes the repo to control c1 and scales web to `web` dynos, all up and routable. */
export async function deploy(c: NetnsCluster, app: string, repoDir: string, web = 3): Promise<void> {
  const created = await api(c, 'POST', '/apps', { name: app });
  if (created.status !== 201) throw new Error(`apps create: ${created.status} ${JSON.stringify(created.body)}`);
  // The load comes from one client address: random affinity spreads it over every dyno (ip affinity would pick one).
  const routed = await api(c, 'PATCH', `/apps/${app}`, { routing: { affinity: 'random' } });
  if (routed.status !== 200) throw new Error(`routing: ${routed.status} ${JSON.stringify(routed.body)}`);
  const push = await git(repoDir, ['push', '-q', remote(c, app), 'main'], 240_000);
  if (push.code !== 0) throw new Error(`git push failed: ${push.stderr}`);
  const scaled = await api(c, 'PATCH', `/apps/${app}/formation/web`, { quantity: web });
  if (scaled.status !== 200) throw new Error(`scale: ${scaled.status} ${JSON.stringify(scaled.body)}`);
  await waitEndpoints(c, app, web);
}

/** Waits until `n` endpoints of the app are published (optionally all of one release) and returns them. */
export async function waitEndpoints(c: NetnsCluster, app: string, n: number, release?: number, ms = 120_000) {
  const cl = c.client();
  try {
    return await eventually(async () => {
      const l = await listEndpointsOf(cl, app);
      const eps = l.entries.map((e) => e.value as { dyno: string; node: string; host: string; port: number; release: number });
      return eps.length === n && (release === undefined || eps.every((e) => e.release === release)) ? eps : undefined;
    }, ms, `${n} endpoints of ${app}${release ? ` on v${release}` : ''}`);
  } finally {
    cl.close();
  }
}

export interface LoadResult {
  sent: number;
  failed: number;
  p99Ms: number;
  /** ms since the loop started of each failure, with what failed. */
  failures: { at: number; router: string; why: string }[];
  /** `<router> <body>` → count: which dynos and releases answered through which router. */
  bodies: Map<string, number>;
  startedAt: number;
}

/** A bounded load loop: GETs through both routers in turn at `rate` per second, `concurrency` at most in flight, until `count` or `ms`, or stop(). */
export class Load {
  private stopped = false;
  private readonly latencies: number[] = [];
  readonly result: LoadResult = { sent: 0, failed: 0, p99Ms: 0, failures: [], bodies: new Map(), startedAt: Date.now() };
  private readonly done: Promise<void>;
  private readonly agents: Agent[];

  constructor(private readonly c: NetnsCluster, private readonly app: string, o: { count: number; ms: number; rate?: number; concurrency?: number; routers?: string[] }) {
    const routers = o.routers ?? c.routerAddrs;
    this.agents = routers.map(() => new Agent({ keepAlive: true, maxSockets: 8 }));
    const deadline = Date.now() + o.ms;
    const interval = 1000 / (o.rate ?? 100);
    let next = 0;
    const worker = async () => {
      while (!this.stopped && next < o.count && Date.now() < deadline) {
        const i = next++;
        const due = this.result.startedAt + i * interval;
        if (due > Date.now()) await sleep(due - Date.now());
        if (this.stopped) break;
        const r = i % routers.length;
        await this.one(routers[r]!, this.agents[r]!);
      }
    };
    this.done = Promise.all(Array.from({ length: o.concurrency ?? 4 }, worker)).then(() => undefined);
  }

  private one(router: string, agent: Agent): Promise<void> {
    const t0 = performance.now();
    this.result.sent++;
    return new Promise((resolve) => {
      const fail = (why: string) => {
        this.result.failed++;
        this.result.failures.push({ at: Date.now() - this.result.startedAt, router, why });
        resolve();
      };
      const req = request({ host: router, port: ROUTER_PORT, path: '/', agent, headers: { host: `${this.app}.${this.c.baseDomain}` } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          this.latencies.push(performance.now() - t0);
          if (res.statusCode !== 200) return fail(`${res.statusCode} ${res.headers['x-dynomesh-error'] ?? ''} ${body.slice(0, 80).trim()}`);
          const key = `${router} ${body.trim()}`;
          this.result.bodies.set(key, (this.result.bodies.get(key) ?? 0) + 1);
          resolve();
        });
        res.on('error', (e) => fail(e.message));
      });
      req.setTimeout(20_000, () => req.destroy(new Error('client timeout (20 s)')));
      req.on('error', (e) => fail(e.message));
      req.end();
    });
  }

  /** Ends the loop early (the scenario is over) and returns the figures. */
  async stop(): Promise<LoadResult> {
    this.stopped = true;
    return this.finished();
  }

  async finished(): Promise<LoadResult> {
    await this.done;
    for (const a of this.agents) a.destroy();
    const s = [...this.latencies].sort((a, b) => a - b);
    this.result.p99Ms = s.length ? s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)]! : 0;
    return this.result;
  }
}

/** The one line each scenario prints (also collected in the suite's output). */
export function summary(scenario: string, r: LoadResult, recoveryMs: number, extra = ''): string {
  const line = `fault ${scenario}: sent=${r.sent} failed=${r.failed} p99=${r.p99Ms.toFixed(1)}ms recovery=${(recoveryMs / 1000).toFixed(1)}s${extra ? ` ${extra}` : ''}`;
  process.stdout.write(`${line}\n`);
  if (r.failures.length) process.stdout.write(`  failures: ${JSON.stringify(r.failures.slice(0, 10))}\n`);
  return line;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
