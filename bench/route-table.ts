/**
 * The router with a big route table: 10,000 apps and 100,000 endpoints written to a real
 * etcd, then a fresh router process loads them. Reports how long the initial load took,
 * the router's resident memory with that table, and how long one change takes to reach
 * the request path (etcd write -> first request routed to the moved endpoint) at that size.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { Endpoint, RoutingApp } from '../cluster/records.ts';
import type { Op } from '../cluster/client.ts';
import type { Backend } from './backends/index.ts';
import { RouterEnv, startRouterProcess } from './targets/router.ts';
import { measurePropagation } from './propagation.ts';
import { BENCH_APP } from './targets/target.ts';

export interface RouteTableResult {
  apps: number;
  endpoints: number;
  /** Router start -> every endpoint in its table (from its own /metrics gauge). */
  load_s: number;
  rss_mb: number;
  /** Highest resident memory while loading (VmHWM). */
  rss_peak_mb: number;
  /** V8 heap in use / reserved by the router's main thread then (from its /metrics). */
  heap_used_mb: number;
  heap_total_mb: number;
  /** The same router with only the bench app, for comparison. */
  rss_mb_small?: number;
  change_p50_ms: number;
  change_p99_ms: number;
  changes: number;
}

/** etcd's default limit of operations in one transaction. */
const TXN_OPS = 128;

export function rssMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
  } catch {
    return NaN;
  }
}

/** The routing records of `apps` synthetic apps with `perApp` web dynos each (never contacted). */
export function* syntheticRoutes(env: RouterEnv, apps: number, perApp: number): Generator<Op> {
  const c = env.cluster;
  for (let i = 0; i < apps; i++) {
    const app = `t${i}`;
    const rec: RoutingApp = { app, affinity: 'ip', balanceFactor: 1.25, maintenance: false };
    yield { put: c.keys.routingApp(app), value: c.value(c.keys.routingApp(app), rec) };
    for (let d = 1; d <= perApp; d++) {
      const ep: Endpoint = { app, dyno: `web.${d}`, node: `node-${i % 20}`, host: `10.${(i >> 8) & 255}.${i & 255}.${d}`, port: 5000 + d, release: 1 };
      const k = c.keys.endpoint(ep.node, app, `web.${d}`);
      yield { put: k, value: c.value(k, ep) };
    }
  }
}

async function writeAll(env: RouterEnv, ops: Iterable<Op>, parallel = 8): Promise<number> {
  const it = ops[Symbol.iterator]();
  let n = 0;
  const worker = async () => {
    for (;;) {
      const batch: Op[] = [];
      for (let r = it.next(); !r.done; r = it.next()) {
        batch.push(r.value);
        if (batch.length === TXN_OPS) break;
      }
      if (batch.length === 0) return;
      await env.cluster.txn([], batch);
      n += batch.length;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return n;
}

/** One gauge from the router's /metrics (NaN when absent or unreachable). */
function gauge(adminPort: number, name: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: adminPort, path: '/metrics', agent: false }, (res) => {
      let s = '';
      res.setEncoding('utf8').on('data', (d: string) => { s += d; });
      res.on('end', () => resolve(Number(new RegExp(`^${name} (\\d+)`, 'm').exec(s)?.[1] ?? NaN)));
    });
    req.on('error', () => resolve(NaN));
    req.end();
  });
}

/** When the router cannot load the table: does a plain list of routing/ (what a watch starts with) work? */
async function listDiagnosis(env: RouterEnv): Promise<string> {
  try {
    await env.cluster.list(env.cluster.keys.routing());
    return '';
  } catch (err) {
    return ` (a single etcd list of routing/, as a watch does at start, fails here: ${(err as Error).message})`;
  }
}

export async function measureRouteTable(core: string | undefined, etcdCore: string | undefined, dir: string, a: Backend, b: Backend,
  opts: { apps?: number; perApp?: number; changes?: number } = {}): Promise<RouteTableResult> {
  const apps = opts.apps ?? 10_000;
  const perApp = opts.perApp ?? 10;
  const env = await RouterEnv.start(etcdCore, dir, '/dynomesh-bench-table/');
  try {
    await env.putApp(BENCH_APP);
    await env.putEndpoint('web.1', a.port);
    const written = await writeAll(env, syntheticRoutes(env, apps, perApp));
    const endpoints = written - apps + 1;
    const t0 = performance.now();
    const r = await startRouterProcess(env, core, dir, 1, 60_000).catch(async (err: Error) => {
      throw new Error(`${err.message}${await listDiagnosis(env)}`);
    });
    try {
      while ((await gauge(r.adminPort, 'dynomesh_router_route_table_endpoints')) < endpoints) {
        if (performance.now() - t0 > 60_000) throw new Error(`router did not load ${endpoints} endpoints within 60 s${await listDiagnosis(env)}`);
        await new Promise((res) => setTimeout(res, 20));
      }
      const load_s = Math.round(performance.now() - t0) / 1000;
      await new Promise((res) => setTimeout(res, 1000)); // let start-up garbage go before reading RSS
      const rss_mb = rssMb(r.pid);
      const rss_peak_mb = rssMb(r.pid, 'VmHWM');
      const heap_used_mb = Math.round((await gauge(r.adminPort, 'nodejs_heap_size_used_bytes')) / 104857.6) / 10;
      const heap_total_mb = Math.round((await gauge(r.adminPort, 'nodejs_heap_size_total_bytes')) / 104857.6) / 10;
      const p = await measurePropagation(env, r.port, a, b, opts.changes ?? 20);
      return { apps: apps + 1, endpoints, load_s, rss_mb, rss_peak_mb, heap_used_mb, heap_total_mb, change_p50_ms: p.p50, change_p99_ms: p.p99, changes: p.changes - p.failed };
    } finally {
      await r.stop();
    }
  } finally {
    await env.close();
  }
}
