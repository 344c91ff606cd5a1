/**
 * One measurement each: a lane (target + router workers) measured closed-loop or open-loop
 * against a fresh backend and a fresh target process, route propagation, and the big route
 * table. main.ts decides the order; these run one thing and clean up after it.
 */
import { startBackend, type BackendNet } from './backends/index.ts';
import type { BenchConfig } from './args.ts';
import type { Placement } from './placement.ts';
import { scenarioByName, type Scenario } from './scenarios.ts';
import { BENCH_HOST, type Target, type TargetName, type TlsFiles } from './targets/target.ts';
import { benchCertificate } from './tls.ts';
import { direct } from './targets/direct.ts';
import { floor } from './targets/floor.ts';
import { nginx } from './targets/nginx.ts';
import { haproxy } from './targets/haproxy.ts';
import { caddy } from './targets/caddy.ts';
import { router, routerEnv, startRouterProcess } from './targets/router.ts';
import { runWrk } from './load/wrk.ts';
import type { OpenLoopGenerator } from './load/openloop.ts';
import { buildRequest } from './load/http1.ts';
import type { LoadResult } from './load/result.ts';
import { CpuMeter } from './proc.ts';
import { measurePropagation, type PropagationResult } from './propagation.ts';
import { measureRouteTable, rssMb, type RouteTableResult } from './route-table.ts';

export const TARGETS: Record<TargetName, Target> = { router, 'router-cni': router, floor, nginx, haproxy, caddy, direct };

/** One column of the report: a target, and for the router its worker count. */
export interface Lane {
  label: string;
  target: Target;
  workers: number;
  /** Where the backend runs (router-cni: behind portmap in its own namespace). */
  net?: BackendNet;
}

export const say = (s: string) => process.stderr.write(s + '\n');

/** The TLS scenarios have no direct lane (the backend speaks plain HTTP only). */
const isTls = (scenario: string): boolean => scenario === 'tls' || scenario === 'tlsnew';

const certs = new Map<string, TlsFiles>();

export function lanesFor(cfg: BenchConfig, scenario: string, dead: Record<string, string>): Lane[] {
  const lanes: Lane[] = [];
  for (const name of cfg.targets) {
    if (name === 'router') {
      const counts = scenario === 'hello' ? cfg.routerWorkers : [cfg.routerWorkers[0] ?? 1];
      for (const w of counts) lanes.push({ label: w > 1 ? `router-${w}w` : 'router', target: router, workers: w });
    } else if (name === 'router-cni') {
      if (scenario === 'hello' || scenario === '16k') lanes.push({ label: name, target: router, workers: 1, net: 'cni' });
    } else if ((name !== 'floor' || scenario === 'hello') && !(name === 'direct' && isTls(scenario))) lanes.push({ label: name, target: TARGETS[name], workers: 1 });
  }
  return lanes.filter((l) => !dead[l.label] && !dead[l.target.name]);
}

/** Fresh backend + fresh target, `fn` measures, then both stop (whatever happened). */
async function withTarget<T>(cfg: BenchConfig, p: Placement, dir: string, lane: Lane, fn: (port: number, pids: { proxy?: number; backend: number }) => Promise<T>, tls?: TlsFiles): Promise<T> {
  const backend = await startBackend(cfg.backend, p.backend, dir, 'web.1', lane.net);
  try {
    const running = await lane.target.start({ placement: p, backend, dir, routerWorkers: lane.workers, ...(tls ? { tls } : {}) });
    try {
      return await fn(running.port, { proxy: Object.values(running.pids)[0], backend: backend.pid });
    } finally {
      await running.stop();
    }
  } finally {
    await backend.stop();
  }
}

function meterFor(pids: { proxy?: number; backend: number }): CpuMeter {
  return new CpuMeter(pids.proxy ? { proxy: pids.proxy, backend: pids.backend } : { backend: pids.backend });
}

export async function closedLoop(cfg: BenchConfig, p: Placement, dir: string, s: Scenario, lane: Lane): Promise<LoadResult> {
  return withTarget(cfg, p, dir, lane, async (port, pids) => {
    const meter = meterFor(pids);
    const r = await runWrk({
      port, path: s.path, host: BENCH_HOST, connections: cfg.connections ?? s.connections, durationS: cfg.durationS, threads: 1,
      core: p.loadgen, method: s.method, bodyBytes: s.bodyBytes, closeEach: s.closeEach, tls: s.tls, scriptDir: dir,
    }, cfg.warmupS, () => meter.start());
    const cpu = meter.stop();
    r.proxy_cpu_pct = cpu.proxy;
    r.backend_cpu_pct = cpu.backend;
    r.core_busy_pct = meter.coreBusy;
    // For an upload the bytes that matter are the ones sent, not the short answers read.
    if (s.method === 'POST' && s.bodyBytes) r.bytes_per_s = r.rps * s.bodyBytes;
    return r;
  }, s.tls ? certFor(dir) : undefined);
}

/** One bench certificate per run directory. */
function certFor(dir: string): TlsFiles {
  let c = certs.get(dir);
  if (!c) certs.set(dir, (c = benchCertificate(dir)));
  return c;
}

export async function openLoop(cfg: BenchConfig, p: Placement, dir: string, gen: OpenLoopGenerator, lane: Lane, rates: number[]): Promise<Map<number, LoadResult>> {
  const out = new Map<number, LoadResult>();
  const hello = scenarioByName('hello');
  await withTarget(cfg, p, dir, lane, async (port, pids) => {
    for (const rate of rates) {
      const meter = meterFor(pids);
      meter.start();
      const r = await gen.run({ port, request: buildRequest('GET', hello.path, BENCH_HOST), rate, connections: cfg.connections ?? hello.connections,
        durationMs: cfg.openDurationS * 1000, warmupMs: cfg.warmupS * 1000, threads: cfg.loadgenThreads });
      const cpu = meter.stop();
      r.proxy_cpu_pct = cpu.proxy;
      r.backend_cpu_pct = cpu.backend;
      r.core_busy_pct = meter.coreBusy;
      out.set(rate, r);
      say(`  open ${lane.label} @${rate}/s: p50 ${r.p50_ms} ms p99 ${r.p99_ms} ms (achieved ${Math.round(r.rps)}/s, loadgen ${r.loadgen_cpu_pct}% cpu)`);
    }
  });
  return out;
}

export async function propagation(cfg: BenchConfig, p: Placement, dir: string): Promise<{ prop: PropagationResult; rss: number }> {
  const env = await routerEnv({ placement: p, dir });
  const a = await startBackend(cfg.backend, p.backend, dir, 'web.1');
  const b = await startBackend(cfg.backend, p.backend, dir, 'web.1-moved');
  try {
    await env.putApp();
    await env.putEndpoint('web.1', a.port);
    const r = await startRouterProcess(env, p.proxy, dir, 1);
    try {
      const prop = await measurePropagation(env, r.port, a, b, cfg.propagationChanges);
      return { prop, rss: rssMb(r.pid) };
    } finally {
      await r.stop();
    }
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
}

export async function routeTable(cfg: BenchConfig, p: Placement, dir: string): Promise<RouteTableResult> {
  const a = await startBackend(cfg.backend, p.backend, dir, 'web.1');
  const b = await startBackend(cfg.backend, p.backend, dir, 'web.1-moved');
  try {
    return await measureRouteTable(p.proxy, p.etcd, dir, a, b, { apps: cfg.routeTableApps });
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
}

