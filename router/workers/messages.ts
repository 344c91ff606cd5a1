/**
 * What the main thread and the router's worker threads say to each other. The
 * main thread owns etcd (one watch), the admin port and the log shipping; each
 * worker runs one uWS app on the shared port (SO_REUSEPORT) with its own route
 * table, built from the same deltas, so every worker routes alike.
 */
import type { MetricsSnapshot } from '../metrics.ts';
import type { RouterOptions } from '../server.ts';

export interface WorkerInit {
  /** 1-based, for logs and the per-worker metric. */
  index: number;
  /** 0 for the first worker when --port 0; then the port the first one got. */
  port: number;
  /** The HTTPS port every worker binds (a concrete one), or 0 for none. */
  httpsPort: number;
  opts: RouterOptions;
}

export type ToWorker =
  /**
   * Route-table deltas (msgpackr `Delta[]`), in etcd order; the first one is a full snapshot.
   * `build` is false for a list page before the last: apply it, build the table with the last.
   */
  | { t: 'deltas'; rev: number; data: Uint8Array; build: boolean }
  | { t: 'metrics'; id: number }
  /** Stop accepting, finish in-flight requests within drainMs, close, exit. */
  | { t: 'stop'; drainMs: number };

export type FromWorker =
  | { t: 'listening'; port: number }
  /** A batch of router log lines: app, line, error flag ('1' or '', or 'm': a metric sample, router/app-meter.ts), repeated. */
  | { t: 'logs'; lines: string[] }
  | { t: 'metrics'; id: number; snap: MetricsSnapshot }
  | { t: 'stopped'; unfinished: number }
  | { t: 'failed'; message: string };
