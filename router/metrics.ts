/**
 * Router metrics in Prometheus text format, served on the admin port. Plain
 * number fields on the hot path; text is built only when scraped.
 */
import { AppMeter } from './app-meter.ts';
import type { RouteTable } from './table/route-table.ts';
import type { SourceStatus } from './table/source.ts';

/** Upper bounds (seconds) of the request-duration histogram's buckets; +Inf is implied. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BUCKETS_MS = DURATION_BUCKETS.map((s) => s * 1000);

export interface MetricsSnapshot {
  byClass: number[];
  /** Per status class (index 1..5), counts per bucket (last = +Inf, not cumulative). */
  durations: number[][];
  durationSumMs: number[];
  byCode: Array<[string, number]>;
  inFlight: number;
  connectErrors: number;
  retries: number;
  websocketsOpen: number;
  websocketsTotal: number;
  bytesIn: number;
  bytesOut: number;
}

export class Metrics {
  /** Responses by status class: index 1..5 for 1xx..5xx (index 0 unused). */
  readonly byClass = [0, 0, 0, 0, 0, 0];
  readonly byCode = new Map<string, number>();
  /** Per-app counts shipped to the control (issue 19); not part of this router's own /metrics. */
  readonly apps = new AppMeter();
  readonly durations = [0, 1, 2, 3, 4, 5].map(() => new Array<number>(BUCKETS_MS.length + 1).fill(0));
  readonly durationSumMs = [0, 0, 0, 0, 0, 0];
  inFlight = 0;
  connectErrors = 0;
  retries = 0;
  websocketsOpen = 0;
  websocketsTotal = 0;
  bytesIn = 0;
  bytesOut = 0;

  /** One answered request: its status and how long it took (ms, from the head to the last byte or the upgrade). */
  response(status: number, ms: number): void {
    const c = (status / 100) | 0;
    if (c < 1 || c > 5) return;
    this.byClass[c]!++;
    let b = 0;
    while (b < BUCKETS_MS.length && ms > BUCKETS_MS[b]!) b++;
    this.durations[c]![b]!++;
    this.durationSumMs[c]! += ms;
  }

  error(code: string): void {
    this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
  }

  /** Plain counters, for a worker thread to send to the main thread. */
  snapshot(): MetricsSnapshot {
    return {
      byClass: [...this.byClass], durations: this.durations.map((d) => [...d]), durationSumMs: [...this.durationSumMs], byCode: [...this.byCode], inFlight: this.inFlight, connectErrors: this.connectErrors,
      retries: this.retries, websocketsOpen: this.websocketsOpen, websocketsTotal: this.websocketsTotal,
      bytesIn: this.bytesIn, bytesOut: this.bytesOut,
    };
  }

  /** The sum of the workers' counters (the main thread's own Metrics is not used for requests then). */
  static sum(snaps: readonly MetricsSnapshot[]): Metrics {
    const m = new Metrics();
    for (const s of snaps) {
      for (let i = 0; i < m.byClass.length; i++) {
        m.byClass[i]! += s.byClass[i] ?? 0;
        m.durationSumMs[i]! += s.durationSumMs[i] ?? 0;
        for (let b = 0; b < m.durations[i]!.length; b++) m.durations[i]![b]! += s.durations[i]?.[b] ?? 0;
      }
      for (const [k, v] of s.byCode) m.byCode.set(k, (m.byCode.get(k) ?? 0) + v);
      m.inFlight += s.inFlight;
      m.connectErrors += s.connectErrors;
      m.retries += s.retries;
      m.websocketsOpen += s.websocketsOpen;
      m.websocketsTotal += s.websocketsTotal;
      m.bytesIn += s.bytesIn;
      m.bytesOut += s.bytesOut;
    }
    return m;
  }

  render(table: RouteTable, src: SourceStatus, draining: boolean, perWorker: readonly MetricsSnapshot[] = []): string {
    const now = Date.now();
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, lines: string[]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    metric('dynomesh_router_requests_total', 'counter', 'Responses sent, by status class.', [1, 2, 3, 4, 5].map((c) => `dynomesh_router_requests_total{class="${c}xx"} ${this.byClass[c]}`));
    metric('dynomesh_router_request_duration_seconds', 'histogram', 'Time from the request head to the last response byte (WebSocket: to the upgrade), by status class.', this.durationLines());
    metric('dynomesh_router_errors_total', 'counter', 'Router error answers, by Heroku code.', [...this.byCode].map(([k, v]) => `dynomesh_router_errors_total{code="${k}"} ${v}`));
    metric('dynomesh_router_upstream_connect_errors_total', 'counter', 'Failed connects to dynos (each quarantines the dyno).', [`dynomesh_router_upstream_connect_errors_total ${this.connectErrors}`]);
    metric('dynomesh_router_retries_total', 'counter', 'Requests retried on another dyno after a connect failure.', [`dynomesh_router_retries_total ${this.retries}`]);
    metric('dynomesh_router_in_flight', 'gauge', 'HTTP requests being proxied now.', [`dynomesh_router_in_flight ${this.inFlight}`]);
    metric('dynomesh_router_websockets_open', 'gauge', 'Proxied WebSocket connections open now.', [`dynomesh_router_websockets_open ${this.websocketsOpen}`]);
    metric('dynomesh_router_websockets_total', 'counter', 'WebSocket connections proxied (upgrades answered with 101).', [`dynomesh_router_websockets_total ${this.websocketsTotal}`]);
    metric('dynomesh_router_body_bytes_total', 'counter', 'Body bytes proxied.', [`dynomesh_router_body_bytes_total{direction="in"} ${this.bytesIn}`, `dynomesh_router_body_bytes_total{direction="out"} ${this.bytesOut}`]);
    metric('dynomesh_router_route_table_apps', 'gauge', 'Routable apps in the route table.', [`dynomesh_router_route_table_apps ${table.apps.size}`]);
    metric('dynomesh_router_route_table_endpoints', 'gauge', 'Web endpoints in the route table.', [`dynomesh_router_route_table_endpoints ${table.endpointCount}`]);
    metric('dynomesh_router_route_table_revision', 'gauge', 'etcd revision the route table reflects.', [`dynomesh_router_route_table_revision ${table.revision}`]);
    metric('dynomesh_router_route_table_age_seconds', 'gauge', 'Seconds since the route table was last built.', [`dynomesh_router_route_table_age_seconds ${((now - table.builtAt) / 1000).toFixed(3)}`]);
    metric('dynomesh_router_route_table_stale_seconds', 'gauge', 'Seconds since the table was last known in sync with etcd (0 while connected).', [`dynomesh_router_route_table_stale_seconds ${src.connected ? 0 : ((now - src.disconnectedSince) / 1000).toFixed(3)}`]);
    metric('dynomesh_router_etcd_connected', 'gauge', '1 while the routing watch is connected to etcd.', [`dynomesh_router_etcd_connected ${src.connected ? 1 : 0}`]);
    metric('dynomesh_router_draining', 'gauge', '1 after SIGTERM while in-flight requests finish.', [`dynomesh_router_draining ${draining ? 1 : 0}`]);
    // The standard process figures (prom-client's names), so a big route table's cost shows on a dashboard.
    const mem = process.memoryUsage();
    metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the router process.', [`process_resident_memory_bytes ${mem.rss}`]);
    metric('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use (main thread).', [`nodejs_heap_size_used_bytes ${mem.heapUsed}`]);
    metric('nodejs_heap_size_total_bytes', 'gauge', 'V8 heap reserved (main thread).', [`nodejs_heap_size_total_bytes ${mem.heapTotal}`]);
    metric('nodejs_external_memory_bytes', 'gauge', 'Memory held by buffers and native objects outside the V8 heap.', [`nodejs_external_memory_bytes ${mem.external}`]);
    if (perWorker.length > 0) {
      metric('dynomesh_router_worker_requests_total', 'counter', 'Responses sent by each worker thread (--workers).', perWorker.map((w, i) => `dynomesh_router_worker_requests_total{worker="${i + 1}"} ${w.byClass.reduce((a, b) => a + b, 0)}`));
    }
    return out.join('\n') + '\n';
  }

  private durationLines(): string[] {
    const lines: string[] = [];
    const name = 'dynomesh_router_request_duration_seconds';
    for (let c = 1; c <= 5; c++) {
      const counts = this.durations[c]!;
      let cum = 0;
      for (let b = 0; b < counts.length; b++) {
        cum += counts[b]!;
        lines.push(`${name}_bucket{class="${c}xx",le="${b < DURATION_BUCKETS.length ? DURATION_BUCKETS[b] : '+Inf'}"} ${cum}`);
      }
      lines.push(`${name}_sum{class="${c}xx"} ${(this.durationSumMs[c]! / 1000).toFixed(3)}`, `${name}_count{class="${c}xx"} ${cum}`);
    }
    return lines;
  }
}
