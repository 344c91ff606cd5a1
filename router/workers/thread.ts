/**
 * A router worker thread: one uWS app on the shared port, serving with its own
 * route table. It never talks to etcd: the main thread sends table deltas (a
 * snapshot first), asks for counters when /metrics is scraped, and receives the
 * per-request log lines in one message per event-loop turn.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { unpack } from 'msgpackr';
import { logger } from '../../lib/log.ts';
import type { LogSink } from '../log-line.ts';
import { Metrics } from '../metrics.ts';
import { shipSamples } from '../app-meter.ts';
import type { ProxyContext } from '../proxy.ts';
import { closeUws, drainInFlight, listenUws, stopListening } from '../server.ts';
import type { Delta } from '../table/delta.ts';
import { TableBuilder } from '../table/builder.ts';
import { DEFAULT_POOL } from '../upstream/backend.ts';
import { setConnErrorHandler } from '../upstream/conn.ts';
import { loadUws, type TemplatedApp, type us_listen_socket } from '../uws.ts';
import { TlsListener } from '../tls/listener.ts';
import { TLS_RETIRE_MS, tlsWanted } from '../server.ts';
import { DevCa } from '../tls/dev-ca.ts';
import type { FromWorker, ToWorker, WorkerInit } from './messages.ts';

const port = parentPort!;
const init = workerData as WorkerInit;
const o = init.opts;
const log = logger('router', { worker: init.index });
const post = (m: FromWorker): void => port.postMessage(m);

/** Log lines go to the main thread (access log + the apps' log streams) in batches: every 20 ms or 1000 lines. */
class ThreadSink implements LogSink {
  private lines: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly flushNow = (): void => this.flush();
  write(app: string, line: string, isError: boolean): void {
    this.lines.push(app, line, isError ? '1' : '');
    if (this.lines.length >= 3000) this.flush();
    else if (this.timer === null) this.timer = setTimeout(this.flushNow, 20);
  }
  /** Metric samples share the batch, flagged 'm' (the pool hands them to its sink's `sample`). */
  sample(app: string, line: string): void {
    this.lines.push(app, line, 'm');
    if (this.timer === null) this.timer = setTimeout(this.flushNow, 20);
  }
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.lines.length === 0) return;
    post({ t: 'logs', lines: this.lines });
    this.lines = [];
  }
}

loadUws();
setConnErrorHandler((err) => log.error({ err }, 'response-handler-failed'));
const builder = new TableBuilder({
  baseDomain: o.baseDomain,
  defaultBalanceFactor: o.defaultBalanceFactor,
  pool: { ...DEFAULT_POOL, connectTimeoutMs: o.connectTimeoutMs, ...o.pool },
});
const sink = new ThreadSink();
const metrics = new Metrics();
const stopSampling = shipSamples(metrics.apps, sink);
const httpsFwd = init.httpsPort > 0 ? (o.httpsForwardedPort ?? init.httpsPort) : 0;
const ctx: ProxyContext = { table: builder.table, opts: { ...o, port: o.forwardedPort ?? init.port, httpsPort: httpsFwd }, metrics, sink };
/** The HTTPS listener's context: same table, metrics and sink; proto https. */
const tlsCtx: ProxyContext | null = init.httpsPort > 0 ? { ...ctx, opts: { ...ctx.opts, proto: 'https', port: httpsFwd } } : null;
let tls: TlsListener | null = null;
let certsVersion = 0;
let app: TemplatedApp | undefined;
let socket: us_listen_socket | undefined;
let stopping = false;
let started = false;
const sweeper = setInterval(() => {
  const now = Date.now();
  for (const b of builder.backends()) b.sweep(now);
}, 2000);
sweeper.unref();

async function listen(): Promise<void> {
  try {
    const l = await listenUws(ctx, o.host, init.port, o.connectTimeoutMs, log);
    app = l.app;
    socket = l.socket;
    ctx.opts.port = o.forwardedPort ?? l.port;
    if (tlsCtx !== null) {
      const devCa = o.tlsDevCa ? await DevCa.load(o.tlsDevCa) : undefined;
      builder.everyHost = devCa !== undefined;
      tls = new TlsListener(tlsCtx, { host: o.host, port: init.httpsPort, defaultCert: o.tlsDefaultCert, retireMs: o.tlsRetireMs ?? TLS_RETIRE_MS, connectTimeoutMs: o.connectTimeoutMs, devCa }, log);
      certsVersion = builder.certsVersion;
      await tls.start(tlsWanted(builder));
    }
    post({ t: 'listening', port: l.port });
  } catch (err) {
    post({ t: 'failed', message: (err as Error).message });
  }
}

async function stop(drainMs: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  stopListening(socket);
  socket = undefined;
  tls?.stopListening();
  const unfinished = await drainInFlight(metrics, drainMs);
  clearInterval(sweeper);
  for (const b of builder.backends()) b.destroy();
  closeUws(app);
  tls?.close();
  stopSampling();
  sink.flush();
  post({ t: 'stopped', unfinished });
  port.close();
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'deltas': {
      builder.apply(unpack(m.data) as Delta[]);
      if (!m.build) break;
      ctx.table = builder.build(m.rev);
      if (tlsCtx !== null) tlsCtx.table = ctx.table;
      if (tls !== null && builder.certsVersion !== certsVersion) {
        certsVersion = builder.certsVersion;
        tls.update(() => tlsWanted(builder));
      }
      // the first message is the full table: listen only once there is something to route
      if (!started && !stopping) {
        started = true;
        void listen();
      }
      break;
    }
    case 'metrics':
      post({ t: 'metrics', id: m.id, snap: metrics.snapshot() });
      break;
    case 'stop':
      void stop(m.drainMs);
      break;
  }
});
