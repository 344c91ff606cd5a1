/**
 * `dynomesh router --workers N`: N worker threads, each one uWS app on the same
 * port (SO_REUSEPORT: the kernel spreads connections over them). This thread
 * keeps what must exist once: the etcd watch (its deltas go to every worker,
 * msgpackr-packed, a snapshot first), the admin port (workers' counters summed
 * at scrape time, plus one per-worker series), and the log sinks (workers send
 * their request lines once per event-loop turn). SIGTERM drains every worker.
 */
import { Worker } from 'node:worker_threads';
import type { Server as HttpServer } from 'node:http';
import { pack } from 'msgpackr';
import type { Logger } from 'pino';
import type { Cluster } from '../../cluster/client.ts';
import type { LogSink } from '../log-line.ts';
import { Metrics, type MetricsSnapshot } from '../metrics.ts';
import { logUwsBuild, probePort, startAdminServer, type RouterOptions } from '../server.ts';
import { TableBuilder } from '../table/builder.ts';
import type { Delta, KeyOpener } from '../table/delta.ts';
import { RouteSource } from '../table/source.ts';
import { loadUws } from '../uws.ts';
import { compiled, moduleUrl } from '../../lib/package.ts';
import { freePort } from '../../lib/ports.ts';
import type { FromWorker, ToWorker, WorkerInit } from './messages.ts';

const ENTRY = moduleUrl(import.meta.url, './thread').href;
/** Compiled, a thread imports its entry; under tsx it registers tsx in the thread first (threads do not inherit the loader). */
const BOOT = compiled
  ? `import(${JSON.stringify(ENTRY)})`
  : `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(ENTRY)}); })`;
const METRICS_TIMEOUT_MS = 2000;

class WorkerHandle {
  readonly thread: Worker;
  readonly listening: Promise<number>;
  stopped: Promise<number> | null = null;
  exited = false;
  private readonly pending = new Map<number, (s: MetricsSnapshot | null) => void>();
  private nextId = 1;
  private onStopped: (n: number) => void = () => undefined;
  private lastUnfinished = 0;

  constructor(readonly index: number, port: number, httpsPort: number, opts: RouterOptions, onLogs: (lines: string[]) => void, onExit: (h: WorkerHandle, code: number) => void) {
    const init: WorkerInit = { index, port, httpsPort, opts };
    this.thread = new Worker(BOOT, { eval: true, workerData: init });
    let listened: (p: number) => void = () => undefined;
    let failed: (e: Error) => void = () => undefined;
    this.listening = new Promise<number>((res, rej) => {
      listened = res;
      failed = rej;
    });
    this.thread.on('message', (m: FromWorker) => {
      switch (m.t) {
        case 'listening': return listened(m.port);
        case 'failed': return failed(new Error(m.message));
        case 'logs': return onLogs(m.lines);
        case 'metrics': {
          const r = this.pending.get(m.id);
          this.pending.delete(m.id);
          return r?.(m.snap);
        }
        case 'stopped':
          this.lastUnfinished = m.unfinished;
          return this.onStopped(m.unfinished);
      }
    });
    this.thread.on('error', (err) => failed(err));
    this.thread.on('exit', (code) => {
      this.exited = true;
      failed(new Error(`router worker ${index} exited (code ${code}) before listening`));
      for (const r of this.pending.values()) r(null);
      this.pending.clear();
      this.onStopped(this.lastUnfinished);
      onExit(this, code);
    });
  }

  send(m: ToWorker): void {
    if (!this.exited) this.thread.postMessage(m);
  }

  metrics(): Promise<MetricsSnapshot | null> {
    if (this.exited) return Promise.resolve(null);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        resolve(null);
      }, METRICS_TIMEOUT_MS);
      this.pending.set(id, (s) => {
        clearTimeout(t);
        resolve(s);
      });
      this.send({ t: 'metrics', id });
    });
  }

  stop(drainMs: number): Promise<number> {
    return (this.stopped ??= new Promise<number>((resolve) => {
      if (this.exited) return resolve(this.lastUnfinished);
      // a worker that does not answer within the drain limit (+5 s) is ended
      const kill = setTimeout(() => void this.thread.terminate(), drainMs + 5000);
      this.onStopped = (n) => {
        clearTimeout(kill);
        resolve(n);
      };
      this.send({ t: 'stop', drainMs });
    }));
  }
}

export class WorkerRouter {
  private readonly builder: TableBuilder;
  private readonly source: RouteSource;
  private workers: WorkerHandle[] = [];
  private admin: HttpServer | undefined;
  private draining = false;
  port = 0;
  adminPort = 0;
  httpsPort = 0;

  constructor(cluster: Cluster, readonly opts: RouterOptions, readonly count: number, private readonly log: Logger, private readonly sink: LogSink, openKey?: KeyOpener) {
    // This builder's table is only for the admin port's table figures; workers build their own.
    this.builder = new TableBuilder({ baseDomain: opts.baseDomain, defaultBalanceFactor: opts.defaultBalanceFactor });
    this.source = new RouteSource(cluster, this.builder, (deltas, rev, t) => this.broadcast(rev, deltas, t !== null), log, openKey);
  }

  private broadcast(rev: number, deltas: readonly Delta[], build: boolean): void {
    if (this.workers.length === 0) return;
    const data = pack(deltas);
    for (const w of this.workers) w.send({ t: 'deltas', rev, data, build });
  }

  private readonly onLogs = (lines: string[]): void => {
    for (let i = 0; i + 2 < lines.length; i += 3) {
      if (lines[i + 2] === 'm') this.sink.sample?.(lines[i]!, lines[i + 1]!);
      else this.sink.write(lines[i]!, lines[i + 1]!, lines[i + 2] === '1');
    }
  };

  private spawn(index: number, port: number): WorkerHandle {
    const h = new WorkerHandle(index, port, this.httpsPort, this.opts, this.onLogs, (w, code) => this.onExit(w, code));
    this.workers[index - 1] = h;
    // a new worker starts from the whole current table; later batches follow in order on the same port
    h.send({ t: 'deltas', rev: this.builder.table.revision, data: pack(this.builder.snapshot()), build: true });
    return h;
  }

  /**
   * A worker only exits when told to stop. One that ends otherwise leaves the router
   * short of a worker: say so and exit, so the supervisor restarts the whole router
   * (a thread that dies with uWS handles open aborts the process anyway).
   */
  private onExit(w: WorkerHandle, code: number): void {
    if (this.draining) return;
    this.log.fatal({ worker: w.index, code }, 'router-worker-exited');
    this.sink.flush?.();
    process.exit(1);
  }

  async start(): Promise<void> {
    loadUws(this.opts.maxHeadSize); // refuses a missing addon or the pure-JS fallback before anything else starts
    logUwsBuild(this.log, this.opts.maxHeadSize);
    const o = this.opts;
    // uWS binds port 0 without SO_REUSEPORT, so --port 0 picks a free port here that every worker then shares
    const port = o.port !== 0 ? o.port : await freePort(o.host);
    await probePort(o.host, port);
    if (o.httpsPort !== undefined) {
      this.httpsPort = o.httpsPort || (await freePort(o.host));
      await probePort(o.host, this.httpsPort);
    }
    await this.source.start();
    try {
      for (let i = 1; i <= this.count; i++) this.spawn(i, port);
      await Promise.all(this.workers.map((w) => w.listening));
      this.port = port;
    } catch (err) {
      // Stop the ones that listen before exiting: a thread torn down with uWS sockets open aborts the process.
      this.draining = true;
      await Promise.all(this.workers.map((w) => w.stop(0)));
      await this.source.close();
      throw err;
    }
    if (o.adminPort >= 0) {
      this.admin = await startAdminServer(o.adminHost, o.adminPort, () => this.metricsText(), () => !this.draining);
      this.adminPort = (this.admin.address() as { port: number }).port;
    }
    this.log.info({ host: o.host, port: this.port, httpsPort: this.httpsPort || undefined, adminPort: this.adminPort, baseDomain: o.baseDomain, maxHeadSize: o.maxHeadSize, workers: this.count }, 'router-listening');
  }

  private async metricsText(): Promise<string> {
    const snaps = await Promise.all(this.workers.map((w) => w.metrics()));
    const got = snaps.map((s) => s ?? new Metrics().snapshot());
    return Metrics.sum(got).render(this.builder.table, this.source.status, this.draining, got);
  }

  /** SIGTERM: every worker stops accepting and drains (up to drainMs); then etcd and the admin port close. */
  async stop(drainMs = this.opts.drainTimeoutMs): Promise<{ unfinished: number }> {
    this.draining = true;
    this.log.info({ drainMs, workers: this.workers.length }, 'router-draining');
    const left = await Promise.all(this.workers.map((w) => w.stop(drainMs)));
    const unfinished = left.reduce((a, b) => a + b, 0);
    await this.source.close();
    await new Promise<void>((r) => (this.admin ? this.admin.close(() => r()) : r()));
    this.admin?.closeAllConnections();
    this.sink.flush?.();
    this.log.info({ unfinished }, 'router-stopped');
    return { unfinished };
  }
}
