/**
 * Metric samples ride the log transport (issue 19): a sample is a record with
 * source `heroku`, dyno `metrics` (never a dyno's name: those have a dot) and a
 * JSON line, so it goes to the app's log owner with the same authentication,
 * batching, acks and rerouting as log lines, and the owner's log service hands
 * it to the metrics store instead of the app's stream. No etcd write per request.
 *
 *   router  {"k":"r","m":<minute>,"n":requests,"s":[1xx..5xx],"e":{"H12":1},"h":[bucket,count,...]}
 *           counts since its last sample for that minute (lib/histogram.ts buckets); the control adds them
 *   node    {"k":"d","m":<minute>,"d":"web.1","rss":MB,"swap":MB,"quota":MB,"cpu":pct|-1,"r14":events}
 *           one dyno's reading; the control keeps the minute's maximum (r14: added)
 *
 * `m` is the minute's start in unix seconds. A line stays far under 10,000 bytes:
 * a histogram has at most ~470 buckets, and error codes are Heroku's few.
 */
import { isDynoName } from '../cluster/names.ts';
import type { LogShipper } from './shipper.ts';

export const METRICS_DYNO = 'metrics';

export interface RouterSample {
  k: 'r';
  m: number;
  n: number;
  s: number[];
  e: Record<string, number>;
  h: number[];
}

export interface DynoSample {
  k: 'd';
  m: number;
  d: string;
  rss: number;
  swap: number;
  quota: number;
  cpu: number;
  r14: number;
}

export type MetricSample = RouterSample | DynoSample;

export const minuteOf = (ms: number): number => Math.floor(ms / 60_000) * 60;

export function shipSample(shipper: Pick<LogShipper, 'write'>, app: string, s: MetricSample): void {
  shipper.write({ app, source: 'heroku', dyno: METRICS_DYNO, line: JSON.stringify(s) });
}

const count = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;
const reading = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= -1 && x < 1e9;
const CODE = /^[A-Z][A-Z0-9]{1,4}$/;

/** Parses and checks a sample line (a producer of another version, or a hostile one, must not poison the store). */
export function parseSample(line: string): MetricSample | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (!Number.isSafeInteger(o.m) || (o.m as number) % 60 !== 0 || (o.m as number) < 0) return undefined;
  if (o.k === 'r') {
    if (!count(o.n) || !Array.isArray(o.s) || o.s.length !== 5 || !o.s.every(count)) return undefined;
    if (!Array.isArray(o.h) || o.h.length > 1200 || !o.h.every(count)) return undefined;
    if (o.e === null || typeof o.e !== 'object' || Array.isArray(o.e)) return undefined;
    const e = Object.entries(o.e as Record<string, unknown>);
    if (e.length > 40 || !e.every(([k, n]) => CODE.test(k) && count(n))) return undefined;
    return o as unknown as RouterSample;
  }
  if (o.k === 'd') {
    if (typeof o.d !== 'string' || o.d.length > 41 || !isDynoName(o.d)) return undefined;
    if (![o.rss, o.swap, o.quota, o.cpu].every(reading) || !count(o.r14)) return undefined;
    return o as unknown as DynoSample;
  }
  return undefined;
}
