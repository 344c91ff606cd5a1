/**
 * Charts of `GET /apps/:app/metrics?since=-<range>&step=<s>` (oldest point first, one per step):
 * response time (p50/p95/p99), throughput, memory (RSS, swap, quota), CPU, and errors (status
 * classes and H codes). Polled every 10 s. A control plane without metrics answers 404 for the
 * route: said in one line, nothing else breaks.
 */
import { html } from 'htm/preact';
import { useMemo, useState } from 'preact/hooks';
import { appPath, get } from '../api.ts';
import { useResource } from '../hooks.ts';
import { shape, type MetricsJson, type Series } from '../metrics-data.ts';
import { Chart } from './chart.ts';
import { inputValue } from './ui.ts';

const RANGES = [
  { label: 'Last hour', since: 3600, step: 60 },
  { label: 'Last 6 hours', since: 6 * 3600, step: 300 },
  { label: 'Last 24 hours', since: 24 * 3600, step: 900 },
];

const RESPONSE: Series[] = [{ label: 'p50', stroke: '#0e7490', dots: true }, { label: 'p95', stroke: '#7c3aed', dots: true }, { label: 'p99', stroke: '#be123c', dots: true }];
const THROUGHPUT: Series[] = [{ label: 'requests', stroke: '#1d4ed8' }, { label: '2xx/3xx', stroke: '#4d7c0f', dash: [6, 3] }];
const MEMORY: Series[] = [{ label: 'RSS', stroke: '#0e7490', dots: true }, { label: 'swap', stroke: '#b45309', dots: true }, { label: 'quota', stroke: '#be123c', dash: [6, 3], dots: true }];
const CPU: Series[] = [{ label: 'CPU', stroke: '#7c3aed', dots: true }];

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
