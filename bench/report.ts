/**
 * The bench's output: medians over rounds with their spread and the ratios to nginx and to
 * direct, as a human table on stdout and as bench/results/latest.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LoadResult } from './load/result.ts';
import { median, ratio, round, spread, type Spread } from './stats.ts';
import type { BalanceResult } from './balance.ts';
import type { PropagationResult } from './propagation.ts';
import type { RouteTableResult } from './route-table.ts';

export interface TargetSummary {
  rps: number;
  bytes_per_s: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  errors: number;
  non2xx: number;
  rounds: number;
  /** rps (bytes/s for large-body scenarios) over nginx's and over direct's medians. */
  ratio_to_nginx: number;
  ratio_to_direct: number;
  spread: { rps: Spread; p99_ms: Spread };
  loadgen_cpu_pct: number;
  proxy_cpu_pct?: number;
  /** Proxy CPU time per request in µs (its CPU share over req/s, per run, then the median): steadier than req/s on a shared machine. */
  proxy_us_per_req?: number;
  /** proxy_us_per_req over floor's (hello): what the router's own work multiplies its stack's cost by. */
  cpu_ratio_to_floor?: number;
  backend_cpu_pct?: number;
  /** Median busy percent of each core during the runs (anyone's work). */
  core_busy_pct?: number[];
  /** Open loop only. */
  target_rate?: number;
  uncorrected_p99_ms?: number;
  timeouts?: number;
}

export type ScenarioSummary = Record<string, TargetSummary>;

export interface Report {
  machine: Record<string, unknown>;
  config: Record<string, unknown>;
  scenarios: Record<string, ScenarioSummary>;
  /** Open-loop fixed-rate latency, per scenario then per rate (req/s). */
  open_loop: Record<string, Record<string, ScenarioSummary>>;
  propagation_ms: PropagationResult | { p50: null; p99: null; reason: string };
  balance: BalanceResult;
  /** The router holding a big table (issue 5): load time, RSS, one change end to end. */
  route_table?: RouteTableResult | { skipped: string };
  unavailable: Record<string, string>;
  notes: string[];
}

const med = (rs: LoadResult[], f: (r: LoadResult) => number | undefined) => median(rs.map((r) => f(r) ?? NaN));

/** µs of proxy CPU per answered request in one run (proxy_cpu_pct is a share of one core). */
export const usPerRequest = (r: LoadResult): number | undefined =>
  r.proxy_cpu_pct === undefined || !(r.rps > 0) ? undefined : (r.proxy_cpu_pct / 100) * 1e6 / r.rps;

/** Medians over rounds for each target, then ratios against nginx and direct. */
export function summarize(rounds: Record<string, LoadResult[]>, byteBound = false): ScenarioSummary {
  const out: ScenarioSummary = {};
  for (const [t, rs] of Object.entries(rounds)) {
    if (rs.length === 0) continue;
    const s: TargetSummary = {
      rps: round(med(rs, (r) => r.rps), 1),
      bytes_per_s: round(med(rs, (r) => r.bytes_per_s), 0),
      p50_ms: round(med(rs, (r) => r.p50_ms)),
      p90_ms: round(med(rs, (r) => r.p90_ms)),
      p99_ms: round(med(rs, (r) => r.p99_ms)),
      p999_ms: round(med(rs, (r) => r.p999_ms)),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
      rounds: rs.length,
      ratio_to_nginx: NaN,
      ratio_to_direct: NaN,
      spread: { rps: roundSpread(spread(rs.map((r) => r.rps))), p99_ms: roundSpread(spread(rs.map((r) => r.p99_ms))) },
      loadgen_cpu_pct: round(med(rs, (r) => r.loadgen_cpu_pct), 1),
    };
    const pc = med(rs, (r) => r.proxy_cpu_pct);
    if (Number.isFinite(pc)) s.proxy_cpu_pct = round(pc, 1);
    const us = med(rs, usPerRequest);
    if (Number.isFinite(us)) s.proxy_us_per_req = round(us, 1);
    const bc = med(rs, (r) => r.backend_cpu_pct);
    if (Number.isFinite(bc)) s.backend_cpu_pct = round(bc, 1);
    const cores = rs[0]!.core_busy_pct?.length ?? 0;
    if (cores) s.core_busy_pct = Array.from({ length: cores }, (_, i) => med(rs, (r) => r.core_busy_pct?.[i]));
    if (rs[0]!.mode === 'open') {
      s.target_rate = rs[0]!.target_rate;
      s.uncorrected_p99_ms = round(med(rs, (r) => r.uncorrected_p99_ms));
      s.timeouts = rs.reduce((a, r) => a + (r.timeouts ?? 0), 0);
    }
    out[t] = s;
  }
  const key = (s: TargetSummary | undefined) => (s ? (byteBound ? s.bytes_per_s : s.rps) : undefined);
  for (const s of Object.values(out)) {
    s.ratio_to_nginx = round(ratio(key(s), key(out.nginx)));
    s.ratio_to_direct = round(ratio(key(s), key(out.direct)));
    if (out.floor?.proxy_us_per_req && s.proxy_us_per_req !== undefined) s.cpu_ratio_to_floor = round(s.proxy_us_per_req / out.floor.proxy_us_per_req);
  }
  return out;
}

function roundSpread(s: Spread): Spread {
  return { min: round(s.min, 1), max: round(s.max, 1), rel: round(s.rel), n: s.n };
}

/** JSON has no NaN: missing figures become null. */
export function toJson(report: Report): string {
  return JSON.stringify(report, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
}

export function writeReport(path: string, report: Report): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, toJson(report));
}

const fmt = (x: number | undefined, d = 2) => (x === undefined || !Number.isFinite(x) ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const fmtInt = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : Math.round(x).toLocaleString('en-US'));
const busy = (v: TargetSummary) => (v.core_busy_pct?.length ? v.core_busy_pct.map((x) => fmt(x, 0)).join('/') : '-');
const mb = (x: number) => fmt(x / 1024 / 1024, 1);

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ') + ' |';
  return [line(head), '| ' + w.map((n, i) => (i === 0 ? '-'.repeat(n) : '-'.repeat(n - 1) + ':')).join(' | ') + ' |', ...rows.map(line)].join('\n');
}

export function renderClosed(name: string, title: string, s: ScenarioSummary): string {
  const rows = Object.entries(s).map(([t, v]) => [
    t, fmtInt(v.rps), `${fmt(v.spread.rps.rel * 100, 1)}%`, mb(v.bytes_per_s), fmt(v.p50_ms), fmt(v.p90_ms), fmt(v.p99_ms), fmt(v.p999_ms),
    fmt(v.ratio_to_nginx), fmt(v.ratio_to_direct), fmt(v.proxy_us_per_req, 1), fmt(v.proxy_cpu_pct, 0), fmt(v.backend_cpu_pct, 0), fmt(v.loadgen_cpu_pct, 0), busy(v), String(v.errors + v.non2xx),
  ]);
  const n = Object.values(s)[0]?.rounds ?? 0;
  return `\n${name}: ${title} (closed loop, wrk; median of ${n} round${n === 1 ? '' : 's'})\n` +
    table(['target', 'req/s', 'range', 'MB/s', 'p50 ms', 'p90', 'p99', 'p99.9', 'x nginx', 'x direct', 'µs cpu/req', 'proxy %cpu', 'backend %cpu', 'wrk %cpu', 'cores busy %', 'errors'], rows) +
    floorLine(s);
}

/** Under the hello table: the router's CPU per request over its stack's (issue 25's measure). */
function floorLine(s: ScenarioSummary): string {
  const rows = Object.entries(s).filter(([t, v]) => t !== 'floor' && t.startsWith('router') && v.cpu_ratio_to_floor !== undefined);
  return rows.length ? '\n' + rows.map(([t, v]) => `${t}: ${fmt(v.proxy_us_per_req, 1)} µs cpu/req = ${fmt(v.cpu_ratio_to_floor)}x floor's ${fmt(s.floor!.proxy_us_per_req, 1)}`).join('; ') : '';
}

export function renderOpen(name: string, rate: string, s: ScenarioSummary): string {
  const rows = Object.entries(s).map(([t, v]) => [
    t, fmtInt(v.rps), fmt(v.p50_ms), fmt(v.p90_ms), fmt(v.p99_ms), fmt(v.p999_ms), fmt(v.uncorrected_p99_ms), fmt(v.proxy_us_per_req, 1), fmt(v.proxy_cpu_pct, 0), fmt(v.loadgen_cpu_pct, 0), busy(v), String(v.errors + v.non2xx + (v.timeouts ?? 0)),
  ]);
  return `\n${name} at ${Number(rate).toLocaleString('en-US')} req/s (open loop, latency from intended send time)\n` +
    table(['target', 'achieved/s', 'p50 ms', 'p90', 'p99', 'p99.9', 'p99 uncorrected', 'µs cpu/req', 'proxy %cpu', 'loadgen %cpu', 'cores busy %', 'errors'], rows);
}

export function renderReport(r: Report, titles: Record<string, string>): string {
  const parts: string[] = [];
  for (const [name, s] of Object.entries(r.scenarios)) parts.push(renderClosed(name, titles[name] ?? name, s));
  for (const [name, rates] of Object.entries(r.open_loop)) for (const [rate, s] of Object.entries(rates)) parts.push(renderOpen(name, rate, s));
  const p = r.propagation_ms;
  parts.push('\nroute propagation (etcd write -> first request on the new endpoint): ' +
    (p.p50 === null ? `not measured: ${(p as { reason: string }).reason}` : `p50 ${fmt(p.p50)} ms, p99 ${fmt(p.p99)} ms over ${(p as PropagationResult).changes} changes (${(p as PropagationResult).failed} not seen; poll rtt ${fmt((p as PropagationResult).poll_rtt_ms, 3)} ms)`));
  const b = r.balance;
  parts.push(`balancer (hashring, ${b.dynos} dynos, ${b.keys.toLocaleString('en-US')} client keys): max/mean ${fmt(b.max_over_mean, 3)}, ` +
    `moved when 1 of ${b.dynos} removed ${fmt(b.moved_fraction * 100, 1)}% (ideal ${fmt(b.ideal_moved_fraction * 100, 1)}%, ${fmt(b.moved_from_removed * 100, 0)}% of them from the removed dyno)`);
  const rt = r.route_table;
  if (rt && 'apps' in rt) {
    parts.push(`route table: ${rt.apps.toLocaleString('en-US')} apps / ${rt.endpoints.toLocaleString('en-US')} endpoints loaded in ${fmt(rt.load_s, 1)} s; router RSS ${fmt(rt.rss_mb, 0)} MB (peak ${fmt(rt.rss_peak_mb, 0)} MB while loading, V8 heap ${fmt(rt.heap_used_mb, 0)} MB in use)` +
      `${rt.rss_mb_small !== undefined ? ` (${fmt(rt.rss_mb_small, 0)} MB with one app)` : ''}; one change etcd -> routed p50 ${fmt(rt.change_p50_ms)} ms, p99 ${fmt(rt.change_p99_ms)} ms over ${rt.changes}`);
  } else if (rt) parts.push(`route table: not measured: ${rt.skipped}`);
  for (const [t, why] of Object.entries(r.unavailable)) parts.push(`NOT RUN ${t}: ${why}`);
  for (const n of r.notes) parts.push(`note: ${n}`);
  return parts.join('\n') + '\n';
}
