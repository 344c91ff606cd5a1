/**
 * Statistics the report is built from: medians over rounds, their spread, ratios between
 * targets, and percentiles from sample arrays or HdrHistograms. No I/O; unit-tested.
 */
import type { Histogram } from 'hdr-histogram-js';

export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** Spread of a set of rounds: min, max, and (max-min)/median as a fraction. */
export interface Spread {
  min: number;
  max: number;
  rel: number;
  n: number;
}

export function spread(xs: readonly number[]): Spread {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return { min: NaN, max: NaN, rel: NaN, n: 0 };
  const min = Math.min(...v);
  const max = Math.max(...v);
  const med = median(v);
  return { min, max, rel: med === 0 ? 0 : (max - min) / Math.abs(med), n: v.length };
}

/** a/b, NaN when either side is missing or b is 0 (a ratio to nothing is not 0 or Infinity). */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return NaN;
  return a / b;
}

/**
 * Nearest-rank percentile of raw samples (p in 0..100): the smallest value with at least
 * p% of samples at or below it.
 */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  if (p < 0 || p > 100) throw new RangeError(`percentile ${p} is outside 0..100`);
  const v = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * v.length));
  return v[rank - 1]!;
}

export interface LatencySummary {
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  count: number;
}

/** Percentiles of a histogram recorded in microseconds, in milliseconds. */
export function histogramSummary(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { p50_ms: NaN, p90_ms: NaN, p99_ms: NaN, p999_ms: NaN, max_ms: NaN, count: 0 };
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    p50_ms: ms(h.getValueAtPercentile(50)),
    p90_ms: ms(h.getValueAtPercentile(90)),
    p99_ms: ms(h.getValueAtPercentile(99)),
    p999_ms: ms(h.getValueAtPercentile(99.9)),
    max_ms: ms(h.maxValue),
    count: h.totalCount,
  };
}

/** Round for display and JSON: 3 significant decimals for small numbers, integers for big ones. */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  if (Math.abs(x) >= 1000) return Math.round(x);
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Median of each numeric field over rounds, plus the spread of one chosen field. */
export function medianOfFields<T extends object>(rounds: readonly T[]): Record<string, number> {
  const out: Record<string, number> = {};
  const keys = new Set<string>();
  for (const r of rounds) for (const [k, v] of Object.entries(r)) if (typeof v === 'number') keys.add(k);
  for (const k of keys) out[k] = median(rounds.map((r) => (r as Record<string, unknown>)[k] as number));
  return out;
}
