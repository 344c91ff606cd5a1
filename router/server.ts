/**
 * The router process's parts, started in order: uWS native check, port probe,
 * route table from etcd (first full list before listening), the uWS listener,
 * the admin (metrics) listener. `stop()` is the graceful drain SIGTERM runs.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { Logger } from 'pino';
import type { Cluster } from '../cluster/client.ts';
import { AccessLog, type LogSink } from './log-line.ts';
import { Metrics } from './metrics.ts';
import { handleRequest, type ProxyContext, type ProxyOptions } from './proxy.ts';
import { TableBuilder } from './table/builder.ts';
import { RouteSource } from './table/source.ts';
import type { RouteTable } from './table/route-table.ts';
import { DEFAULT_POOL, type PoolOptions } from './upstream/backend.ts';
import { setConnErrorHandler } from './upstream/conn.ts';
import { loadUws, type TemplatedApp, type us_listen_socket } from './uws.ts';
import { websocketBehavior } from './websocket.ts';

export interface RouterOptions extends Omit<ProxyOptions, 'port'> {
  host: string;
  port: number;
  adminHost: string;
  /** 0 picks a free port; -1 disables the admin listener. */
  adminPort: number;
  baseDomain: string;
  defaultBalanceFactor: number;
  drainTimeoutMs: number;
  connectTimeoutMs: number;
  pool?: Partial<PoolOptions>;
  /** X-Forwarded-Port; defaults to the port the router listens on. */
  forwardedPort?: number;
}

export const ROUTER_DEFAULTS: RouterOptions = {
  host: '0.0.0.0',
  port: 5000,
  adminHost: '127.0.0.1',
  adminPort: 5001,
  baseDomain: 'localhost',
  defaultBalanceFactor: 1.25,
  drainTimeoutMs: 30_000,
  connectTimeoutMs: 5_000,
  firstByteTimeoutMs: 30_000,
  idleTimeoutMs: 55_000,
  quarantineMs: 5_000,
  maxTries: 4,
  proto: 'http',
};

export class Router {
  readonly metrics = new Metrics();
  private readonly builder: TableBuilder;
  private readonly source: RouteSource;
  private readonly ctx: ProxyContext;
  private app: TemplatedApp | undefined;
  private listenSocket: us_listen_socket | undefined;
  private admin: HttpServer | undefined;
  private draining = false;
  private sweeper: NodeJS.Timeout | undefined;
  port = 0;
  adminPort = 0;

  constructor(private readonly cluster: Cluster, readonly opts: RouterOptions, private readonly log: Logger, sink?: LogSink) {
    this.builder = new TableBuilder({
      baseDomain: opts.baseDomain,
      defaultBalanceFactor: opts.defaultBalanceFactor,
      pool: { ...DEFAULT_POOL, connectTimeoutMs: opts.connectTimeoutMs, ...opts.pool },
    });
    this.ctx = { table: this.builder.table, opts: { ...opts, port: opts.port }, metrics: this.metrics, sink: sink ?? new AccessLog(log) };
    this.source = new RouteSource(cluster, this.builder, (t) => this.swap(t), log);
  }

  get table(): RouteTable {
    return this.ctx.table;
  }

  private swap(t: RouteTable): void {
    this.ctx.table = t;
  }

  async start(): Promise<void> {
    const uws = loadUws();
    setConnErrorHandler((err) => this.log.error({ err }, 'response-handler-failed'));
    if (this.opts.port !== 0) await probePort(this.opts.host, this.opts.port);
    await this.source.start();
    const app = (this.app = uws.App());
    const ctx = this.ctx;
    app.ws('/*', websocketBehavior(ctx, this.opts.connectTimeoutMs));
    app.any('/*', (res, req) => {
      try {
        handleRequest(ctx, res, req);
      } catch (err) {
        // A throw out of a uWS handler aborts the process; answer H99 instead if we still can.
        this.log.error({ err }, 'request-handler-failed');
        try {
          res.cork(() => res.writeStatus('503 Service Unavailable').end('', true));
        } catch {
          // response already finished or aborted
        }
      }
    });
    this.listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
      app.listen(this.opts.host, this.opts.port, (s) => (s ? resolve(s) : reject(new Error(`cannot listen on ${this.opts.host}:${this.opts.port} (in use or not permitted); pick another --port`))));
    });
    this.port = uws.us_socket_local_port(this.listenSocket as never);
    (this.ctx.opts as ProxyOptions).port = this.opts.forwardedPort ?? this.port;
    if (this.opts.adminPort >= 0) await this.startAdmin();
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const b of this.builder.backends()) b.sweep(now);
    }, 2000).unref();
    this.log.info({ host: this.opts.host, port: this.port, adminPort: this.adminPort, baseDomain: this.opts.baseDomain, uws: 'native' }, 'router-listening');
  }

  private async startAdmin(): Promise<void> {
    const admin = (this.admin = createHttpServer((req, res) => {
      if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(this.metrics.render(this.ctx.table, this.source.status, this.draining));
      } else if (req.url === '/healthz') {
        // Load balancers stop sending once we drain; also unhealthy before the first table.
        const ok = !this.draining;
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
        res.end(ok ? 'ok\n' : 'draining\n');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('try /metrics or /healthz\n');
      }
    }));
    await new Promise<void>((resolve, reject) => {
      admin.once('error', (err) => reject(new Error(`admin port ${this.opts.adminHost}:${this.opts.adminPort}: ${(err as NodeJS.ErrnoException).code}; pick another --admin-port`)));
      admin.listen(this.opts.adminPort, this.opts.adminHost, () => resolve());
    });
    this.adminPort = (admin.address() as { port: number }).port;
  }

  /** Stop accepting, let in-flight requests finish (up to the drain limit), then close everything. */
  async stop(drainMs = this.opts.drainTimeoutMs): Promise<{ unfinished: number }> {
    if (this.draining) return { unfinished: this.metrics.inFlight };
    this.draining = true;
    const uws = loadUws();
    if (this.listenSocket) uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
    this.log.info({ inFlight: this.metrics.inFlight, drainMs }, 'router-draining');
    const deadline = Date.now() + drainMs;
    while (this.metrics.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const unfinished = this.metrics.inFlight;
    clearInterval(this.sweeper);
    await this.source.close();
    for (const b of this.builder.backends()) b.destroy();
    // Closes every client connection uWS still holds (idle keep-alive ones included).
    (this.app as unknown as { close?: () => void } | undefined)?.close?.();
    await new Promise<void>((r) => (this.admin ? this.admin.close(() => r()) : r()));
    this.admin?.closeAllConnections();
    this.ctx.sink.flush?.();
    this.log.info({ unfinished }, 'router-stopped');
    return { unfinished };
  }
}

/** uWS listens with SO_REUSEPORT, so a stale router on the same port would silently share traffic; refuse instead. */
function probePort(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`port ${host}:${port} is already in use (${err.code}); is another router running? Pick another --port`)),
    );
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve()));
  });
}
