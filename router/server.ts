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
import { shipSamples } from './app-meter.ts';
import { handleRequest, type ProxyContext, type ProxyOptions } from './proxy.ts';
import { TableBuilder } from './table/builder.ts';
import { RouteSource } from './table/source.ts';
import type { RouteTable } from './table/route-table.ts';
import { DEFAULT_POOL, type PoolOptions } from './upstream/backend.ts';
import { setConnErrorHandler } from './upstream/conn.ts';
import { loadUws, uwsStartRecord, type TemplatedApp, type us_listen_socket } from './uws.ts';
import { websocketBehavior } from './websocket.ts';
import type { KeyOpener } from './table/delta.ts';
import { freePort } from '../lib/ports.ts';
import { TlsListener, type TlsWanted } from './tls/listener.ts';
import { DevCa } from './tls/dev-ca.ts';
import type { TableBuilder as Builder } from './table/builder.ts';

export interface RouterOptions extends Omit<ProxyOptions, 'port' | 'httpsPort'> {
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
  /** HTTPS listener port (0 = any free port); undefined: no HTTPS listener. */
  httpsPort?: number;
  /** X-Forwarded-Port of HTTPS requests and the port http-redirect sends to; defaults to the HTTPS port. */
  httpsForwardedPort?: number;
  /** Served when no certificate's name matches the SNI (e.g. a wildcard for the base domain). */
  tlsDefaultCert?: { certFile: string; keyFile: string };
  /** How long a replaced TLS generation keeps serving its open connections (router/tls/listener.ts). */
  tlsRetireMs?: number;
  /** A development CA directory (ca.crt, ca.key): routed hosts without a certificate get one minted (router/tls/dev-ca.ts). */
  tlsDevCa?: string;
}

export const TLS_RETIRE_MS = 5 * 60_000;

export class Router {
  readonly metrics = new Metrics();
  private readonly builder: TableBuilder;
  private readonly source: RouteSource;
  private readonly ctx: ProxyContext;
  /** The HTTPS listener's context: same table, metrics and sink; proto https. */
  private readonly tlsCtx: ProxyContext | undefined;
  private tls: TlsListener | undefined;
  private certsVersion = 0;
  private app: TemplatedApp | undefined;
  private listenSocket: us_listen_socket | undefined;
  private admin: HttpServer | undefined;
  private draining = false;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly stopSampling: () => void;
  port = 0;
  adminPort = 0;
  httpsPort = 0;

  constructor(private readonly cluster: Cluster, readonly opts: RouterOptions, private readonly log: Logger, sink?: LogSink, openKey?: KeyOpener) {
    this.builder = new TableBuilder({
      baseDomain: opts.baseDomain,
      defaultBalanceFactor: opts.defaultBalanceFactor,
      pool: { ...DEFAULT_POOL, connectTimeoutMs: opts.connectTimeoutMs, ...opts.pool },
    });
    this.ctx = { table: this.builder.table, opts: { ...opts, port: opts.port, httpsPort: 0 }, metrics: this.metrics, sink: sink ?? new AccessLog(log) };
    if (opts.httpsPort !== undefined) this.tlsCtx = { ...this.ctx, opts: { ...this.ctx.opts, proto: 'https' } };
    this.stopSampling = shipSamples(this.metrics.apps, this.ctx.sink);
    this.source = new RouteSource(cluster, this.builder, (_d, _rev, t) => {
      if (t) this.swap(t);
    }, log, openKey);
  }


  get table(): RouteTable {
    return this.ctx.table;
  }

  private swap(t: RouteTable): void {
    this.ctx.table = t;
    if (this.tlsCtx) this.tlsCtx.table = t;
    if (this.tls && this.builder.certsVersion !== this.certsVersion) {
      this.certsVersion = this.builder.certsVersion;
      this.tls.update(() => tlsWanted(this.builder));
    }
  }

  async start(): Promise<void> {
    loadUws(this.opts.maxHeadSize); // refuses a missing addon or the pure-JS fallback before anything else starts
    logUwsBuild(this.log, this.opts.maxHeadSize);
    setConnErrorHandler((err) => this.log.error({ err }, 'response-handler-failed'));
    if (this.opts.port !== 0) await probePort(this.opts.host, this.opts.port);
    await this.source.start();
    const l = await listenUws(this.ctx, this.opts.host, this.opts.port, this.opts.connectTimeoutMs, this.log);
    this.app = l.app;
    this.listenSocket = l.socket;
    this.port = l.port;
    (this.ctx.opts as ProxyOptions).port = this.opts.forwardedPort ?? this.port;
    if (this.tlsCtx) await this.startTls(this.tlsCtx);
    if (this.opts.adminPort >= 0) await this.startAdmin();
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const b of this.builder.backends()) b.sweep(now);
    }, 2000).unref();
    this.log.info({ host: this.opts.host, port: this.port, httpsPort: this.httpsPort || undefined, adminPort: this.adminPort, baseDomain: this.opts.baseDomain, maxHeadSize: this.opts.maxHeadSize }, 'router-listening');
  }

  private async startTls(tlsCtx: ProxyContext): Promise<void> {
    const o = this.opts;
    const port = o.httpsPort ? o.httpsPort : await freePort(o.host);
    if (o.httpsPort) await probePort(o.host, port).catch((err: Error) => Promise.reject(new Error(err.message.replace('Pick another --port', 'Pick another --https-port'))));
    this.httpsPort = port;
    const fwd = o.httpsForwardedPort ?? port;
    (tlsCtx.opts as ProxyOptions).port = fwd;
    (tlsCtx.opts as ProxyOptions).httpsPort = fwd;
    (this.ctx.opts as ProxyOptions).httpsPort = fwd;
    const devCa = o.tlsDevCa ? await DevCa.load(o.tlsDevCa) : undefined;
    this.builder.everyHost = devCa !== undefined;
    this.tls = new TlsListener(tlsCtx, { host: o.host, port, defaultCert: o.tlsDefaultCert, retireMs: o.tlsRetireMs ?? TLS_RETIRE_MS, connectTimeoutMs: o.connectTimeoutMs, devCa }, this.log);
    this.certsVersion = this.builder.certsVersion;
    await this.tls.start(tlsWanted(this.builder));
  }

  private async startAdmin(): Promise<void> {
    this.admin = await startAdminServer(this.opts.adminHost, this.opts.adminPort, () => this.metrics.render(this.ctx.table, this.source.status, this.draining), () => !this.draining);
    this.adminPort = (this.admin.address() as { port: number }).port;
  }

  /** Stop accepting, let in-flight requests finish (up to the drain limit), then close everything. */
  async stop(drainMs = this.opts.drainTimeoutMs): Promise<{ unfinished: number }> {
    if (this.draining) return { unfinished: this.metrics.inFlight };
    this.draining = true;
    stopListening(this.listenSocket);
    this.listenSocket = undefined;
    this.tls?.stopListening();
    this.log.info({ inFlight: this.metrics.inFlight, drainMs }, 'router-draining');
    const unfinished = await drainInFlight(this.metrics, drainMs);
    clearInterval(this.sweeper);
    await this.source.close();
    for (const b of this.builder.backends()) b.destroy();
    closeUws(this.app);
    this.tls?.close();
    await new Promise<void>((r) => (this.admin ? this.admin.close(() => r()) : r()));
    this.admin?.closeAllConnections();
    this.stopSampling();
    this.ctx.sink.flush?.();
    this.log.info({ unfinished }, 'router-stopped');
    return { unfinished };
  }
}

/** What the TLS listener serves now: the table's certificates and every routed host. */
export function tlsWanted(b: Builder): TlsWanted {
  return { certs: b.servedCerts(), hosts: b.everyHost ? b.routedHosts() : [] };
}

/** One line at start naming the uWS build and its head limits; a warning when some heads would get no status line. */
export function logUwsBuild(log: Logger, maxHeadSize: number): void {
  const rec = uwsStartRecord(maxHeadSize);
  log.info(rec, 'uws-build');
  if (rec.gaps.length > 0) log.warn({ uws: rec.uws, gaps: rec.gaps }, 'uws-build-gaps');
}

/** The admin listener: GET /metrics (Prometheus text) and /healthz (503 while draining). */
export async function startAdminServer(host: string, port: number, metricsText: () => string | Promise<string>, healthy: () => boolean): Promise<HttpServer> {
  const admin = createHttpServer((req, res) => {
    if (req.url === '/metrics') {
      void Promise.resolve(metricsText()).then((text) => {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(text);
      }, (err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`metrics unavailable: ${err.message}\n`);
      });
    } else if (req.url === '/healthz') {
      // Load balancers stop sending once we drain; also unhealthy before the first table.
      const ok = healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok\n' : 'draining\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('try /metrics or /healthz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    admin.once('error', (err) => reject(new Error(`admin port ${host}:${port}: ${(err as NodeJS.ErrnoException).code}; pick another --admin-port`)));
    admin.listen(port, host, () => resolve());
  });
  return admin;
}

/**
 * One uWS app serving `ctx` (WebSocket upgrades + every HTTP request) on host:port.
 * uWS listens with SO_REUSEPORT, so worker threads each run one on the same port.
 */
export async function listenUws(ctx: ProxyContext, host: string, port: number, connectTimeoutMs: number, log: Logger): Promise<{ app: TemplatedApp; socket: us_listen_socket; port: number }> {
  const uws = loadUws();
  const app = uws.App();
  serveAll(app, ctx, connectTimeoutMs, log);
  const socket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(host, port, (s) => (s ? resolve(s) : reject(new Error(`cannot listen on ${host}:${port} (in use or not permitted); pick another --port`))));
  });
  return { app, socket, port: uws.us_socket_local_port(socket as never) };
}

/**
 * Registers the request path (WebSocket upgrades + every HTTP request) on a uWS app, or on
 * the SNI server name last selected with `app.domain(name)` (each name has its own handlers).
 */
export function serveAll(app: TemplatedApp, ctx: ProxyContext, connectTimeoutMs: number, log: Logger): void {
  app.ws('/*', websocketBehavior(ctx, connectTimeoutMs));
  app.any('/*', (res, req) => {
    try {
      handleRequest(ctx, res, req);
    } catch (err) {
      // A throw out of a uWS handler aborts the process; answer H99 instead if we still can.
      log.error({ err }, 'request-handler-failed');
      try {
        res.cork(() => res.writeStatus('503 Service Unavailable').end('', true));
      } catch {
        // response already finished or aborted
      }
    }
  });
}

/** Stop listening (in-flight requests go on). */
export function stopListening(socket: us_listen_socket | undefined): void {
  if (socket) loadUws().us_listen_socket_close(socket);
}

/** Closes every client connection uWS still holds (idle keep-alive ones included). */
export function closeUws(app: TemplatedApp | undefined): void {
  (app as unknown as { close?: () => void } | undefined)?.close?.();
}

/** Wait until nothing is in flight or the deadline passes; returns what is still in flight. */
export async function drainInFlight(metrics: Metrics, drainMs: number): Promise<number> {
  const deadline = Date.now() + drainMs;
  while (metrics.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return metrics.inFlight;
}

/** uWS listens with SO_REUSEPORT, so a stale router on the same port would silently share traffic; refuse instead. */
export function probePort(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`port ${host}:${port} is already in use (${err.code}); is another router running? Pick another --port`)),
    );
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve()));
  });
}
