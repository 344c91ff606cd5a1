/**
 * WebSocket (and only WebSocket) upgrades: uWS answers the client's handshake
 * once the dyno has accepted ours, made with the `ws` client; then frames flow
 * both ways until either side closes. Messages from the dyno that arrive before
 * uWS has opened the client socket are queued; a slow client pauses the dyno
 * socket (uWS `send` returning 0 = backpressure, resumed in `drain`).
 * A refused connect quarantines the dyno and tries the next one, as for HTTP.
 * Client messages are limited to 16 MB (uWS closes the socket above that).
 *
 * The client's upgrade runs uncorked (see `upgradeClient`): this uWS build may
 * close a socket it has just upgraded inside `res.cork` after an await.
 */
import { WebSocket as Upstream } from 'ws';
import type { HttpRequest, HttpResponse, WebSocket, us_socket_context_t, Uws } from './uws.ts';
import { addressText } from './uws.ts';
import { affinityKey, bookConnectFailure, exhaustedCode, isUnreachable, mayRetry, routeRefusal } from './admit.ts';
import { markTried, pick, type Tried } from './balancer/pick.ts';
import { ERRORS, isHerokuCode, type ErrorCode } from './errors.ts';
import { forwardHeaders, requestId } from './headers.ts';
import { checkHead, type HeadFacts } from './limits.ts';
import { formatLine } from './log-line.ts';
import type { ProxyContext } from './proxy.ts';
import type { AppRoute } from './table/route-table.ts';

interface Link {
  up: Upstream;
  client: WebSocket<Holder> | null;
  queue: { data: Buffer; binary: boolean }[];
  closed: boolean;
}

/**
 * uWS copies the userData's own properties onto its WebSocket object, so the
 * shared state lives one level down where both sides see the same object.
 */
interface Holder {
  link: Link;
}

/** uWS turns close codes it cannot send (no status, abnormal) into errors; map them to a normal close. */
const sendable = (code: number): number => (code === 1005 || code === 1006 || code < 1000 || code > 4999 ? 1000 : code);

export function websocketBehavior(ctx: ProxyContext, connectTimeoutMs: number): Parameters<ReturnType<Uws['App']>['ws']>[1] {
  return {
    compression: 0,
    maxPayloadLength: 16 * 1024 * 1024,
    idleTimeout: 120,
    maxBackpressure: 1024 * 1024,
    upgrade: (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
      try {
        upgrade(ctx, connectTimeoutMs, res, req, context);
      } catch {
        // a throw out of a uWS handler aborts the process: refuse this upgrade instead
        try {
          res.cork(() => res.writeStatus('503 Service Unavailable').end(ERRORS.H99.page, true));
        } catch {
          // already answered or aborted
        }
      }
    },
    open: (ws: WebSocket<Holder>) => {
      const link = ws.getUserData().link;
      link.client = ws;
      openClients.add(ws);
      ctx.metrics.websocketsOpen++;
      ctx.metrics.websocketsTotal++;
      for (const m of link.queue) ws.send(m.data, m.binary);
      link.queue.length = 0;
      link.up.resume();
    },
    message: (ws: WebSocket<Holder>, message: ArrayBuffer, isBinary: boolean) => {
      const up = ws.getUserData().link.up;
      if (up.readyState !== Upstream.OPEN) return;
      // uWS 20.30 cannot pause reading a WebSocket, so a dyno that stops reading gets the client closed instead of unbounded buffering.
      if (up.bufferedAmount > MAX_UPSTREAM_BUFFER) return ws.end(1013, 'dyno is not reading');
      up.send(Buffer.from(new Uint8Array(message)), { binary: isBinary });
    },
    drain: (ws: WebSocket<Holder>) => {
      if (ws.getBufferedAmount() < 256 * 1024) ws.getUserData().link.up.resume();
    },
    close: (ws: WebSocket<Holder>, code: number, message: ArrayBuffer) => {
      const link = ws.getUserData().link;
      openClients.delete(ws);
      ctx.metrics.websocketsOpen--;
      link.closed = true;
      link.client = null;
      const up = link.up;
      if (up.readyState === Upstream.OPEN) up.close(sendable(code), Buffer.from(new Uint8Array(message)));
      else up.terminate();
    },
  } as Parameters<ReturnType<Uws['App']>['ws']>[1];
}

/** Bytes queued towards a dyno that is not reading before the client is closed with 1013 (try again later). */
const MAX_UPSTREAM_BUFFER = 16 * 1024 * 1024;

/** This thread's open client WebSockets: any of them can host the cork of an upgrade. */
const openClients = new Set<WebSocket<Holder>>();

/**
 * Answers the client's handshake once the dyno has accepted. Not in `res.cork`:
 * when the poll is reallocated in place on upgrade, cork() then reads the new
 * WebSocket's memory as HTTP state and may close it (uNetworking/uWebSockets#1928,
 * fixed upstream in #1929, not in the build we load; seen here as 1006 right after
 * 101 on ~1 in 8 upgrades). Inside another WebSocket's cork, uWS neither corks `res`
 * nor warns about an uncorked write; with no WebSocket open on this thread the
 * upgrade runs plainly and uWS prints one warning on stderr.
 */
function upgradeClient(res: HttpResponse, link: Link, key: string, protocol: string, context: us_socket_context_t): void {
  const host = openClients.values().next().value;
  const upgrade = () => res.upgrade<Holder>({ link }, key, protocol, '', context);
  if (host) host.cork(() => res.cork(upgrade));
  else upgrade();
}

const facts: HeadFacts = { host: '', contentLength: -1, chunked: false, connectionTokens: null };

function upgrade(ctx: ProxyContext, connectTimeoutMs: number, res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
  let aborted = false;
  let up: Upstream | null = null;
  res.onAborted(() => {
    aborted = true;
    up?.terminate();
  });
  const startMs = Date.now();
  const q = req.getQuery();
  const target = q ? req.getUrl() + '?' + q : req.getUrl();
  const key = req.getHeader('sec-websocket-key');
  const protocols = req.getHeader('sec-websocket-protocol');
  const clientIp = addressText(res.getRemoteAddressAsText());
  const pairs: string[] = [];
  req.forEach((k, v) => {
    pairs.push(k, v);
  });
  const rid = requestId(req.getHeader('x-request-id'));
  const problem = checkHead('GET', target, pairs, facts, ctx.opts.maxHeadSize);
  const host = facts.host;
  const log = (route: AppRoute | undefined, dyno: string, status: number, code: ErrorCode | null, detail?: string) => {
    const now = Date.now();
    const serviceMs = now - startMs;
    ctx.metrics.response(status, serviceMs);
    if (code) ctx.metrics.error(code);
    const heroku = code !== null && isHerokuCode(code);
    if (route) ctx.metrics.apps.record(route.name, status, serviceMs, heroku ? code : null, now);
    ctx.sink.write(route?.name ?? '', formatLine({
      app: route?.name ?? '', method: 'GET', path: target, host, requestId: rid, fwd: clientIp, dyno, connectMs: 0,
      serviceMs, status, bytes: 0, code: heroku ? code : null,
      desc: heroku ? (detail ? `${ERRORS[code].desc}: ${detail}` : ERRORS[code].desc) : null,
      protocol: ctx.opts.proto,
    }), heroku);
  };
  const fail = (route: AppRoute | undefined, code: ErrorCode, detail?: string) => {
    if (aborted) return;
    const spec = ERRORS[code];
    res.cork(() => res.writeStatus(spec.statusLine).writeHeader('Content-Type', 'text/html; charset=utf-8').end(spec.page, true));
    log(route, '', spec.status, code, detail);
  };
  if (problem !== null) return fail(undefined, problem.status === 431 ? 'BIG' : 'BAD', problem.reason);
  // RFC 6455 4.1; uWS would also close the socket after the 101 of a `Connection: close` upgrade
  if (!facts.connectionTokens?.includes('upgrade')) return fail(undefined, 'BAD', 'Connection does not name upgrade');
  const route = ctx.table.lookup(host);
  if (!route) return fail(undefined, 'NOAPP');
  const refusal = routeRefusal(route);
  if (refusal !== null) return fail(route, refusal);
  const pin = affinityKey(route, req, clientIp);
  const headers = forwardHeaders(pairs, {
    method: 'GET', target, clientIp, requestId: rid, proto: ctx.opts.proto, port: ctx.opts.port, startMs,
    contentLength: -1, chunked: false, connectionTokens: null,
  });
  const protoList = protocols ? protocols.split(',').map((s) => s.trim()).filter(Boolean) : [];
  let tried: Tried = 0;
  let tries = 0;
  let lastError = '';

  const attempt = () => {
    const now = Date.now();
    const slot = pick(route, pin, tried, now);
    if (slot < 0) return fail(route, exhaustedCode(route, lastError, now));
    tried = markTried(tried, slot, route.backends.length);
    tries++;
    const b = route.backends[slot]!;
    // an upgrade counts against its dyno's bound from the handshake until the socket closes
    b.inFlight++;
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      b.inFlight--;
      if (b.retired && b.inFlight === 0) b.destroy();
    };
    const connectStart = now;
    const link: Link = { up: null as unknown as Upstream, client: null, queue: [], closed: false };
    // target passed checkHead (origin-form, no CR/LF/NUL); an IPv6 dyno address needs brackets
    const authority = b.host.includes(':') ? `[${b.host}]:${b.port}` : `${b.host}:${b.port}`;
    const u = (up = new Upstream(`ws://${authority}${target}`, protoList, {
      headers, perMessageDeflate: false, handshakeTimeout: connectTimeoutMs, followRedirects: false,
    }));
    link.up = u;
    let opened = false;
    u.on('open', () => {
      opened = true;
      if (aborted) return u.close(1001);
      upgradeClient(res, link, key, u.protocol, context);
      log(route, b.dyno, 101, null);
    });
    u.on('message', (data: Buffer, isBinary: boolean) => {
      const ws = link.client;
      if (ws === null) {
        if (!link.closed) {
          link.queue.push({ data, binary: isBinary });
          u.pause(); // until uWS opens the client side
        }
        return;
      }
      if (ws.send(data, isBinary) === 0) u.pause();
    });
    u.on('close', (code: number, reason: Buffer) => {
      release();
      const ws = link.client;
      if (ws !== null && !link.closed) {
        link.closed = true;
        ws.end(sendable(code), reason);
      }
    });
    u.on('unexpected-response', (_req, resp) => {
      opened = true;
      u.terminate();
      if (aborted) return;
      const status = resp.statusCode ?? 502;
      res.cork(() => res.writeStatus(String(status)).end(undefined, true));
      log(route, b.dyno, status, null);
      resp.resume();
    });
    u.on('error', (err: Error & { code?: string }) => {
      release();
      if (opened || aborted) return;
      opened = true;
      // `ws` gives its handshake timeout no code: no answer within the connect timeout is ETIMEDOUT
      const code = err.code ?? (Date.now() - connectStart >= connectTimeoutMs ? 'ETIMEDOUT' : '');
      if (!isUnreachable(code)) return fail(route, 'H99', err.message);
      lastError = code;
      bookConnectFailure(ctx, b);
      if (mayRetry(ctx, route, tries)) return attempt();
      fail(route, exhaustedCode(route, lastError, Date.now()), code);
    });
  };
  attempt();
}
