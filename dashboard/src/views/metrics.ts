/**
 * Charts of `GET /apps/:app/metrics?since=-<range>&step=<s>` (oldest point first, one per step):
 * response time (p50/p95/p99), throughput, memory (RSS, swap, quota), CPU, and errors (status
 * classes and H codes). Polled every 10 s. A control plane without metrics answers 404 for the
 * route: said in one line, nothing else breaks.
 */
import { html } from 'htm/preact';
import { useMemo, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { appPath, get } from '../api.ts';
import { useResource } from '../hooks.ts';
import { Chart, type Series } from './chart.ts';
import { inputValue } from './ui.ts';

type Classes = Record<'1xx' | '2xx' | '3xx' | '4xx' | '5xx', number>;

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

const RANGES = [
  { label: 'Last hour', since: 3600, step: 60 },
  { label: 'Last 6 hours', since: 6 * 3600, step: 300 },
  { label: 'Last 24 hours', since: 24 * 3600, step: 900 },
];

/** Seconds since the epoch, whether the API said ISO text, seconds or milliseconds. */
export const seconds = (t: string | number): number => (typeof t === 'string' ? Date.parse(t) / 1000 : t > 1e12 ? t / 1000 : t);

const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 1 });
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
      summary: `${fmt(total)} requests in this range${last ? `, ${fmt(last.requests)} in the latest ${m.step} s with any` : ''}`,
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

const RESPONSE: Series[] = [{ label: 'p50', stroke: '#0e7490' }, { label: 'p95', stroke: '#7c3aed' }, { label: 'p99', stroke: '#be123c' }];
const THROUGHPUT: Series[] = [{ label: 'requests', stroke: '#1d4ed8' }, { label: '2xx/3xx', stroke: '#4d7c0f', dash: [6, 3] }];
const MEMORY: Series[] = [{ label: 'RSS', stroke: '#0e7490' }, { label: 'swap', stroke: '#b45309' }, { label: 'quota', stroke: '#be123c', dash: [6, 3] }];
const CPU: Series[] = [{ label: 'CPU', stroke: '#7c3aed' }];

export function Metrics({ app }: { app: string }) {
  const [range, setRange] = useState(0);
  const r = RANGES[range]!;
  const metrics = useResource(() => get<MetricsJson>(appPath(app, `/metrics?since=-${r.since}&step=${r.step}`)), [app, range], 10_000);
  const charts = useMemo(() => (metrics.data ? shape(metrics.data) : undefined), [metrics.data]);
  if (!metrics.data && metrics.status === 404 && /no such API resource/.test(metrics.error ?? '')) {
    return html`<p role="status">Metrics are not available on this control plane (it has no metrics service). Logs and the CLI still work.</p>`;
  }
  return html`
    <p>
      <label for="metrics-range">Range</label>
      <select id="metrics-range" value=${range} onChange=${(e: Event) => setRange(Number(inputValue(e)))}>
        ${RANGES.map((x, i) => html`<option value=${i}>${x.label}</option>`)}
      </select>
      <span class="muted"> · updated every 10 s</span>
    </p>
    ${metrics.error && html`<p class="error" role="alert">${metrics.error}</p>`}
    ${!charts && !metrics.error && html`<p class="muted" aria-busy="true">Loading…</p>`}
    ${charts && html`
      <div class="charts">
        <${Chart} id="chart-response" title="Response time" unit=" ms" series=${RESPONSE} data=${charts.response.data} summary=${charts.response.summary} />
        <${Chart} id="chart-throughput" title="Throughput" unit="" series=${THROUGHPUT} data=${charts.throughput.data} summary=${charts.throughput.summary} />
        <${Chart} id="chart-memory" title="Memory" unit=" MB" series=${MEMORY} data=${charts.memory.data} summary=${charts.memory.summary} />
        <${Chart} id="chart-errors" title="Errors" unit="" series=${charts.errors.series} data=${charts.errors.data} summary=${charts.errors.summary} />
        <${Chart} id="chart-cpu" title="CPU" unit=" %" series=${CPU} data=${charts.cpu.data} summary=${charts.cpu.summary} />
      </div>`}`;
}
