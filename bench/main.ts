/**
 * @module bench: `npm run bench`. What does the dynomesh router cost next to nginx and
 * HAProxy on this machine, right now? Starts every process itself on 127.0.0.1, pins them
 * (proxy alone on core 1), alternates targets over rounds, and writes a table to stdout
 * and bench/results/latest.json. A tool, not a test: nothing here asserts a speed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { parseBenchArgs, type BenchConfig } from './args.ts';
import { planPlacement, describePlacement, pinSelf, type Placement } from './placement.ts';
import { SCENARIOS, scenarioByName } from './scenarios.ts';
import { TargetUnavailable } from './targets/target.ts';
import { findBinary } from './targets/nginx.ts';
import { closeRouterEnv, routerUnavailableReason } from './targets/router.ts';
import { cniUnavailableReason } from './backends/cni.ts';
import { OpenLoopGenerator } from './load/openloop.ts';
import type { LoadResult } from './load/result.ts';
import { atExit } from './proc.ts';
import { measureBalance } from './balance.ts';
import { summarize, renderReport, writeReport, type Report } from './report.ts';
import { machineInfo } from './machine.ts';
import { median } from './stats.ts';
import { closedLoop, lanesFor, openLoop, propagation, routeTable, say, type Lane } from './runs.ts';

/**
 * Runs where the proxy's core was busier than the proxy itself by 20+ points: something
 * else (another engineer's tests, say) ran there, and that run's figures are lower bounds.
 */
function contendedRuns(closed: Record<string, Record<string, LoadResult[]>>, p: Placement): string | undefined {
  const core = p.proxy === undefined ? NaN : Number(p.proxy);
  if (!Number.isInteger(core)) return undefined;
  let n = 0;
  let total = 0;
  for (const lanes of Object.values(closed)) {
    for (const [label, rs] of Object.entries(lanes)) {
      if (label === 'direct') continue;
      for (const r of rs) {
        total++;
        const busy = r.core_busy_pct?.[core];
        if (busy !== undefined && r.proxy_cpu_pct !== undefined && busy - r.proxy_cpu_pct >= 20) n++;
      }
    }
  }
  return n ? `${n} of ${total} proxy runs shared core ${core} with other work (core busy >= proxy CPU + 20 points): treat those figures as lower bounds` : undefined;
}

function recordFailure(err: unknown, lane: Lane, dead: Record<string, string>, notes: string[], what: string): void {
  if (err instanceof TargetUnavailable) {
    dead[lane.label] = err.message;
    say(`  ${lane.label}: NOT AVAILABLE: ${err.message}`);
  } else {
    notes.push(`${what} ${lane.label} failed: ${(err as Error).message}`);
    say(`  ${lane.label}: FAILED: ${(err as Error).message}`);
  }
}

async function main(cfg: BenchConfig): Promise<number> {
  const started = Date.now();
  if (!findBinary('wrk')) {
    say('bench: wrk is not installed; run `bash scripts/install-deps.sh --bench` (apt-get install wrk nginx haproxy)');
    return 1;
  }
  const placement = planPlacement();
  say(describePlacement(placement));
  pinSelf(placement.loadgen);
  const dir = mkdtempSync(join(tmpdir(), 'dynomesh-bench-'));
  atExit(() => rmSync(dir, { recursive: true, force: true }));
  const machine = { ...machineInfo(), placement: describePlacement(placement) };
  const dead: Record<string, string> = {};
  const notes: string[] = [];
  if (cfg.targets.includes('router')) {
    const why = routerUnavailableReason();
    if (why) { dead.router = why; say(`router: NOT AVAILABLE: ${why}`); }
  }
  if (cfg.targets.includes('router-cni')) {
    const why = routerUnavailableReason() ?? cniUnavailableReason();
    if (why) { dead['router-cni'] = why; say(`router-cni: NOT AVAILABLE: ${why}`); }
  }

  const closed: Record<string, Record<string, LoadResult[]>> = {};
  for (const name of cfg.scenarios) {
    const s = scenarioByName(name);
    closed[name] = {};
    for (let round = 1; round <= cfg.rounds; round++) {
      for (const lane of lanesFor(cfg, name, dead)) {
        try {
          const r = await closedLoop(cfg, placement, dir, s, lane);
          (closed[name]![lane.label] ??= []).push(r);
          say(`${name} ${round}/${cfg.rounds} ${lane.label}: ${Math.round(r.rps).toLocaleString('en-US')} req/s, ${(r.bytes_per_s / 2 ** 20).toFixed(1)} MB/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, proxy ${r.proxy_cpu_pct ?? '-'}% wrk ${r.loadgen_cpu_pct}% cpu${r.errors + r.non2xx ? `, ${r.errors + r.non2xx} errors` : ''}`);
        } catch (err) {
          recordFailure(err, lane, dead, notes, `${name} round ${round}`);
        }
      }
    }
  }

  const open: Record<string, Record<string, LoadResult[]>> = {};
  const nginxHello = median((closed.hello?.nginx ?? []).map((r) => r.rps));
  const rates: number[] = [];
  for (const r of cfg.rates) {
    if (r !== 'half-nginx') rates.push(r);
    else if (Number.isFinite(nginxHello)) rates.push(Math.round(nginxHello / 2 / 1000) * 1000);
    else notes.push('rate half-nginx skipped: no nginx hello measurement in this run');
  }
  const sortedRates = [...new Set(rates)].sort((a, b) => a - b);
  if (sortedRates.length) {
    const gen = new OpenLoopGenerator(cfg.loadgenThreads);
    try {
      for (let round = 1; round <= cfg.rounds; round++) {
        say(`open loop round ${round}/${cfg.rounds} at ${sortedRates.join(', ')} req/s`);
        for (const lane of lanesFor(cfg, 'open', dead)) {
          try {
            for (const [rate, res] of await openLoop(cfg, placement, dir, gen, lane, sortedRates)) ((open[rate] ??= {})[lane.label] ??= []).push(res);
          } catch (err) {
            recordFailure(err, lane, dead, notes, `open loop round ${round}`);
          }
        }
      }
    } finally {
      await gen.close();
    }
  }

  const noRouter = dead.router ?? 'router target not selected';
  let prop: Report['propagation_ms'] = { p50: null, p99: null, reason: noRouter };
  let rssSmall: number | undefined;
  if (cfg.targets.includes('router') && !dead.router) {
    say(`route propagation: ${cfg.propagationChanges} endpoint changes`);
    try {
      const r = await propagation(cfg, placement, dir);
      prop = r.prop;
      rssSmall = r.rss;
    } catch (err) {
      prop = { p50: null, p99: null, reason: (err as Error).message };
    }
  }
  await closeRouterEnv();
  let table: Report['route_table'] = { skipped: cfg.routeTableApps === 0 ? 'skipped (--route-table 0 or --quick)' : noRouter };
  if (cfg.routeTableApps > 0 && cfg.targets.includes('router') && !dead.router) {
    say(`route table: writing ${cfg.routeTableApps} apps x 10 endpoints to etcd, then loading them into a fresh router`);
    try {
      table = await routeTable(cfg, placement, dir);
      table.rss_mb_small = rssSmall;
    } catch (err) {
      table = { skipped: `failed: ${(err as Error).message}` };
    }
  }
  const balance = measureBalance(10, 100_000);

  const scenarios: Report['scenarios'] = {};
  for (const [name, rounds] of Object.entries(closed)) scenarios[name] = summarize(rounds, scenarioByName(name).byteBound);
  const openSummary: Report['open_loop'] = { hello: {} };
  for (const [rate, rounds] of Object.entries(open)) openSummary.hello![rate] = summarize(rounds);
  const contended = contendedRuns(closed, placement);
  if (contended) notes.push(contended);
  const load1 = (machine as { loadavg_at_start?: number[] }).loadavg_at_start?.[0] ?? 0;
  if (load1 > 0.5) notes.push(`load average was ${load1} at start: other work shared this machine during the run`);
  const report: Report = {
    machine,
    config: { ...cfg, duration_total_s: Math.round((Date.now() - started) / 1000) },
    scenarios, open_loop: openSummary, propagation_ms: prop, balance, route_table: table, unavailable: dead, notes,
  };
  writeReport(cfg.out, report);
  const titles = Object.fromEntries(SCENARIOS.map((s) => [s.name, s.title]));
  process.stdout.write(renderReport(report, titles));
  say(`\nwrote ${cfg.out} (${report.config.duration_total_s} s)`);
  return 0;
}

let cfg: BenchConfig;
try {
  cfg = parseBenchArgs(process.argv.slice(2));
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  throw err;
}
try {
  process.exitCode = await main(cfg);
} catch (err) {
  say(`bench: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
} finally {
  await closeRouterEnv().catch(() => {});
}
process.exit(process.exitCode ?? 0);
