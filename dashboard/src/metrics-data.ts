/**
 * The metrics API's answer (`GET /apps/:app/metrics`) turned into chart columns and the words that
 * say the latest figures. No DOM here: unit-tested under Node (test/dashboard/metrics-data.test.ts).
 */
import type uPlot from 'uplot';

/** A chart's line. */
export interface Series {
  label: string;
  stroke: string;
  dash?: number[];
  /** Dots on each value: for series with gaps, where a lone minute would otherwise draw nothing. */
  dots?: boolean;
}

export type Classes = Record<'1xx' | '2xx' | '3xx' | '4xx' | '5xx', number>;

export interface Point {
  time: string | number;
  requests: number;
  status: Partial<Classes>;
  errors: Record<string, number>;
  responseTimeMs: { p50: number; p95: number; p99: number } | null;
  memory: { rssMb: number; swapMb: number; quotaMb: number } | null;
  cpuPct: number | null;
}

export interface MetricsJson {
  app: string;
  step: number;
  since: string | number;
  until: string | number;
  points: Point[];
}


/** Seconds since the epoch, whether the API said ISO text, seconds or milliseconds. */
export const seconds = (t: string | number): number => (typeof t === 'string' ? Date.parse(t) / 1000 : t > 1e12 ? t / 1000 : t);

export const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 1 });
const interval = (step: number) => (step === 60 ? 'minute' : step % 60 === 0 ? `${step / 60} minutes` : `${step} s`);
const PALETTE = ['#b45309', '#7c3aed', '#0e7490', '#be123c', '#4d7c0f', '#1d4ed8'];

/** Columns of the four charts, and the words that say what they show. */
export function shape(m: MetricsJson) {
  const pts = m.points;
  const x = pts.map((p) => seconds(p.time));
  const col = <T>(f: (p: Point) => T) => pts.map(f);
  const last = [...pts].reverse().find((p) => p.requests > 0);
  const total = pts.reduce((s, p) => s + p.requests, 0);
  const codes = [...new Set(pts.flatMap((p) => Object.keys(p.errors ?? {})))].sort();
  const failed = pts.reduce((s, p) => s + (p.status['5xx'] ?? 0), 0);
  const lastMem = [...pts].reverse().find((p) => p.memory)?.memory;
  const lastCpu = [...pts].reverse().find((p) => p.cpuPct !== null && p.cpuPct !== undefined)?.cpuPct;
  return {
    response: {
      data: [x, col((p) => p.responseTimeMs?.p50 ?? null), col((p) => p.responseTimeMs?.p95 ?? null), col((p) => p.responseTimeMs?.p99 ?? null)] as uPlot.AlignedData,
      summary: last?.responseTimeMs ? `latest: p50 ${fmt(last.responseTimeMs.p50)} ms, p95 ${fmt(last.responseTimeMs.p95)} ms, p99 ${fmt(last.responseTimeMs.p99)} ms` : 'no requests in this range',
    },
    throughput: {
      data: [x, col((p) => p.requests), col((p) => (p.status['2xx'] ?? 0) + (p.status['3xx'] ?? 0))] as uPlot.AlignedData,
      summary: `${fmt(total)} requests in this range${last ? `; the latest ${interval(m.step)} with traffic had ${fmt(last.requests)}` : ''}`,
      total,
    },
    memory: {
      data: [x, col((p) => p.memory?.rssMb ?? null), col((p) => p.memory?.swapMb ?? null), col((p) => p.memory?.quotaMb ?? null)] as uPlot.AlignedData,
      summary: lastMem ? `latest: ${fmt(lastMem.rssMb)} MB resident, ${fmt(lastMem.swapMb)} MB swap, quota ${fmt(lastMem.quotaMb)} MB` : 'no memory samples in this range',
    },
    cpu: {
      data: [x, col((p) => p.cpuPct ?? null)] as uPlot.AlignedData,
      summary: lastCpu !== undefined && lastCpu !== null ? `latest: ${fmt(lastCpu)} %` : 'no CPU samples in this range',
    },
    errors: {
      series: [{ label: '4xx', stroke: '#b45309' }, { label: '5xx', stroke: '#be123c' }, ...codes.map((c, i) => ({ label: c, stroke: PALETTE[(i + 2) % PALETTE.length]!, dash: [6, 3] }))] as Series[],
      data: [x, col((p) => p.status['4xx'] ?? 0), col((p) => p.status['5xx'] ?? 0), ...codes.map((c) => col((p) => p.errors?.[c] ?? 0))] as uPlot.AlignedData,
      summary: `${fmt(failed)} server errors (5xx) in this range${codes.length ? `; ${codes.map((c) => `${c}: ${fmt(pts.reduce((s, p) => s + (p.errors?.[c] ?? 0), 0))}`).join(', ')}` : ''}`,
    },
  };
}
