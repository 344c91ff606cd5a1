/**
 * One minute of an app's metrics (`AppMinute`, cluster/records.ts): how samples
 * add into it, how two partial minutes merge (the store's compare-and-swap adds
 * its delta to what etcd holds), and how minutes become the API's points.
 * Pure functions; the store and the routes do the I/O.
 */
import type { AppMinute } from '../../cluster/records.ts';
import { Histogram } from '../../lib/histogram.ts';
import type { MetricSample } from '../../logplex/metrics.ts';

/** Dynos kept per app-minute: a bound on a hostile node, far above any real formation on one app. */
export const MAX_DYNOS = 1000;

export const emptyMinute = (app: string, minute: number): AppMinute => ({
  app, minute, requests: 0, status: [0, 0, 0, 0, 0], errors: {}, hist: [], dynos: {},
});

/** `[rssMb, swapMb, quotaMb, cpuPct, r14]`: readings keep their maximum, R14 events add up. */
function mergeDyno(a: number[] | undefined, b: number[]): number[] {
  if (!a) return [...b];
  return [Math.max(a[0]!, b[0]!), Math.max(a[1]!, b[1]!), Math.max(a[2]!, b[2]!), Math.max(a[3]!, b[3]!), a[4]! + b[4]!];
}

/** Adds a sample into `m` (same app and minute), in place. */
export function addSample(m: AppMinute, s: MetricSample): void {
  if (s.k === 'r') {
    m.requests += s.n;
    for (let i = 0; i < 5; i++) m.status[i] = (m.status[i] ?? 0) + s.s[i]!;
    for (const [code, n] of Object.entries(s.e)) m.errors[code] = (m.errors[code] ?? 0) + n;
    const h = Histogram.fromWire(m.hist);
    h.mergeWire(s.h);
    m.hist = h.toWire();
    return;
  }
  if (!(s.d in m.dynos) && Object.keys(m.dynos).length >= MAX_DYNOS) return;
  m.dynos[s.d] = mergeDyno(m.dynos[s.d], [s.rss, s.swap, s.quota, s.cpu, s.r14]);
}

/** a + b (same app and minute), as a new record. */
export function mergeMinutes(a: AppMinute, b: AppMinute): AppMinute {
  const h = Histogram.fromWire(a.hist);
  h.mergeWire(b.hist);
  const out: AppMinute = {
    app: a.app, minute: a.minute, requests: a.requests + b.requests,
    status: a.status.map((n, i) => n + (b.status[i] ?? 0)),
    errors: { ...a.errors }, hist: h.toWire(), dynos: { ...a.dynos },
  };
  for (const [k, n] of Object.entries(b.errors)) out.errors[k] = (out.errors[k] ?? 0) + n;
  for (const [d, v] of Object.entries(b.dynos)) {
    if (!(d in out.dynos) && Object.keys(out.dynos).length >= MAX_DYNOS) continue;
    out.dynos[d] = mergeDyno(out.dynos[d], v);
  }
  return out;
}

export interface DynoPoint {
  rssMb: number;
  swapMb: number;
  quotaMb: number;
  cpuPct: number | null;
  r14: number;
}

/** One step of `GET /apps/:app/metrics` (control/README.md); `time` is the end of its step. */
export interface MetricsPoint {
  time: string;
  requests: number;
  status: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  errors: Record<string, number>;
  responseTimeMs: { p50: number; p95: number; p99: number } | null;
  memory: { rssMb: number; swapMb: number; quotaMb: number } | null;
  cpuPct: number | null;
  dynos: Record<string, DynoPoint>;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * Points from `since` (unix s, a multiple of 60) for `count` steps of `step` seconds,
 * oldest first, each the merge of the minutes in it; steps with nothing are present, empty.
 */
export function toPoints(app: string, minutes: Iterable<AppMinute>, since: number, step: number, count: number): MetricsPoint[] {
  const steps: AppMinute[] = [];
  for (let i = 0; i < count; i++) steps.push(emptyMinute(app, since + i * step));
  for (const m of minutes) {
    const i = Math.floor((m.minute - since) / step);
    if (i < 0 || i >= count) continue;
    steps[i] = mergeMinutes(steps[i]!, m);
  }
  // A point is labelled with the end of the step it covers (the first point of `since` 15:00 is 15:01).
  return steps.map((m) => {
    const h = Histogram.fromWire(m.hist);
    const dynos: Record<string, DynoPoint> = {};
    let memory: MetricsPoint['memory'] = null;
    let cpu: number | null = null;
    for (const [d, [rss, swap, quota, c, r14]] of Object.entries(m.dynos) as Array<[string, number[]]>) {
      const p: DynoPoint = { rssMb: round1(rss!), swapMb: round1(swap!), quotaMb: quota!, cpuPct: c! < 0 ? null : round1(c!), r14: r14! };
      dynos[d] = p;
      // The app's memory is its fullest dyno's (Heroku's memory chart shows the max across dynos).
      if (!memory || p.rssMb + p.swapMb > memory.rssMb + memory.swapMb) memory = { rssMb: p.rssMb, swapMb: p.swapMb, quotaMb: p.quotaMb };
      if (p.cpuPct !== null) cpu = Math.max(cpu ?? 0, p.cpuPct);
    }
    const s = m.status;
    return {
      time: new Date((m.minute + step) * 1000).toISOString(),
      requests: m.requests,
      status: { '1xx': s[0]!, '2xx': s[1]!, '3xx': s[2]!, '4xx': s[3]!, '5xx': s[4]! },
      errors: m.errors,
      responseTimeMs: h.count > 0 ? { p50: round3(h.quantile(0.5)!), p95: round3(h.quantile(0.95)!), p99: round3(h.quantile(0.99)!) } : null,
      memory,
      cpuPct: cpu,
      dynos,
    };
  });
}
