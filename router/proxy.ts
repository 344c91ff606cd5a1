/**
 * The request path's entry: the uWS `any('/*')` handler reads the request (head
 * checks, ACME answers, route lookup, https redirect, refusals, affinity key, the
 * head for the dyno) and hands it to an `Exchange` (exchange.ts), which talks to
 * the dyno and answers. Read in this order: this file, exchange.ts, cork.ts,
 * deadlines.ts, then upstream/ and balancer/.
 */
import type { HttpRequest, HttpResponse } from './uws.ts';
import { addressText } from './uws.ts';
import { affinityKey, routeRefusal } from './admit.ts';
import { Exchange } from './exchange.ts';
import { requestHead, requestId } from './headers.ts';
import { checkHead, type HeadFacts } from './limits.ts';
import type { LogSink } from './log-line.ts';
import type { Metrics } from './metrics.ts';
import type { RouteTable } from './table/route-table.ts';

export interface ProxyOptions {
  /** From request fully sent to the first response byte (Heroku: 30 s, H12). */
  firstByteTimeoutMs: number;
  /** No byte in either direction after that (Heroku: 55 s, H15). */
  idleTimeoutMs: number;
  /** How long a dyno that refused a connect is skipped. */
  quarantineMs: number;
  /** Dynos tried per request before giving up (each failed connect counts). */
  maxTries: number;
  /** Largest request head served (bytes, request line to blank line); larger gets 431 (router/limits.ts). */
  maxHeadSize: number;
  /** X-Forwarded-Proto / X-Forwarded-Port values (the router's own listener unless an LB terminates TLS in front). */
  proto: string;
  port: number;
  /** The HTTPS port clients reach (http-redirect's target); 0 when this router serves no HTTPS. */
  httpsPort: number;
}

export interface ProxyContext {
  table: RouteTable;
  readonly opts: ProxyOptions;
  readonly metrics: Metrics;
  readonly sink: LogSink;
}

const ACME_PATH = '/.well-known/acme-challenge/';

let headerPairs: string[] = [];
/** uWS `req.forEach` callback without a closure per request. */
function pushPair(k: string, v: string): void {
  headerPairs.push(k, v);
}

const facts: HeadFacts = { host: '', contentLength: -1, chunked: false, connectionTokens: null };

/** `features:enable http-redirect`: 301 for GET/HEAD, 308 otherwise (the method and body must be repeated as they were). */
function redirectToHttps(ex: Exchange, httpsPort: number): void {
  let host = ex.host;
  const colon = host.lastIndexOf(':');
  if (colon > 0 && host.charCodeAt(host.length - 1) !== 93 /* ] */) host = host.slice(0, colon);
  const location = 'https://' + host + (httpsPort === 443 ? '' : ':' + httpsPort) + ex.target;
  const safe = ex.method === 'GET' || ex.method === 'HEAD';
  ex.answer(safe ? 301 : 308, safe ? '301 Moved Permanently' : '308 Permanent Redirect', ['Location', location, 'Content-Type', 'text/plain'], '');
}

/** The uWS `any('/*')` handler. Everything `req` offers is read before returning (it is stack-allocated). */
export function handleRequest(ctx: ProxyContext, res: HttpResponse, req: HttpRequest): void {
  const ex = new Exchange(ctx, res);
  ctx.metrics.inFlight++;
  res.onAborted(() => ex.onClientAborted());
  ex.startMs = Date.now();
  ex.method = req.getMethod().toUpperCase();
  const q = req.getQuery();
  ex.target = q ? req.getUrl() + '?' + q : req.getUrl();
  ex.clientIp = addressText(res.getRemoteAddressAsText());
  const pairs: string[] = (headerPairs = []);
  req.forEach(pushPair);
  ex.requestId = requestId(req.getHeader('x-request-id'));

  const problem = checkHead(ex.method, ex.target, pairs, facts, ctx.opts.maxHeadSize);
  ex.host = facts.host;
  ex.clientClose = facts.connectionTokens !== null && facts.connectionTokens.includes('close');
  if (problem !== null) return ex.fail(problem.status === 431 ? 'BIG' : 'BAD', problem.reason);

  // ACME HTTP-01 answers come before any app (the control leader is proving this host is ours)
  if (ex.target.charCodeAt(1) === 46 /* . */ && ex.target.startsWith(ACME_PATH) && ctx.table.challenges.size > 0) {
    const auth = ctx.table.challenges.get(ex.target.slice(ACME_PATH.length));
    if (auth !== undefined) return ex.answer(200, '200 OK', ['Content-Type', 'text/plain'], auth);
  }
  const route = ctx.table.lookup(facts.host);
  if (route === undefined) return ex.fail('NOAPP');
  ex.route = route;
  if (route.httpsRedirect && ctx.opts.proto === 'http' && ctx.opts.httpsPort > 0) return redirectToHttps(ex, ctx.opts.httpsPort);
  const refusal = routeRefusal(route);
  if (refusal !== null) return ex.fail(refusal);
  ex.affinityKey = affinityKey(route, req, ex.clientIp);

  ex.hasBody = facts.chunked || facts.contentLength > 0;
  ex.chunkedBody = facts.chunked;
  ex.head = requestHead(pairs, {
    method: ex.method,
    target: ex.target,
    clientIp: ex.clientIp,
    requestId: ex.requestId,
    proto: ctx.opts.proto,
    port: ctx.opts.port,
    startMs: ex.startMs,
    contentLength: facts.chunked ? -1 : facts.contentLength >= 0 ? facts.contentLength : ex.method === 'POST' || ex.method === 'PUT' || ex.method === 'PATCH' ? 0 : -1,
    chunked: facts.chunked,
    connectionTokens: facts.connectionTokens,
  });
  if (ex.hasBody) res.onData((ab, isLast) => ex.onClientData(Buffer.from(new Uint8Array(ab)), isLast));
  else ex.bodyDone = true;
  ex.dispatch();
}
