/**
 * The request head the dyno receives and the response head the client gets.
 *
 * Added to requests (Heroku's set): X-Forwarded-For (client address appended),
 * X-Forwarded-Proto, X-Forwarded-Port, X-Request-Start (epoch ms), X-Request-Id
 * (a valid client id of 20-200 chars of [A-Za-z0-9+/=-] is kept, otherwise a
 * new one), Via. Hop-by-hop headers (RFC 9110 §7.6.1 and those named in
 * Connection) are stripped both ways; bodies are re-framed by the router, so
 * Content-Length / Transfer-Encoding are written by us, never copied.
 */
import { randomUUID } from 'node:crypto';

export const VIA = '1.1 dynomesh';

/** Request headers never copied to the dyno (rewritten below, or hop-by-hop). */
const DROP_REQUEST = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authorization', 'content-length', 'expect', 'x-forwarded-for',
  'x-forwarded-proto', 'x-forwarded-port', 'x-request-start', 'x-request-id', 'via',
]);

/** Response headers never copied to the client (hop-by-hop, re-framed, or always added by uWS). */
const DROP_RESPONSE = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authorization', 'content-length', 'date', 'uwebsockets',
]);

const REQUEST_ID = /^[A-Za-z0-9+/=-]{20,200}$/;

export function requestId(clientValue: string): string {
  return clientValue !== '' && REQUEST_ID.test(clientValue) ? clientValue : randomUUID();
}

export interface ForwardFacts {
  method: string;
  target: string;
  clientIp: string;
  requestId: string;
  proto: string;
  port: number;
  startMs: number;
  contentLength: number;
  chunked: boolean;
  connectionTokens: string[] | null;
}

/** The HTTP/1.1 request head for the dyno, from [name, value...] pairs (lowercase names). */
export function requestHead(pairs: readonly string[], f: ForwardFacts): string {
  let xff = '';
  let via = '';
  let head = f.method + ' ' + f.target + ' HTTP/1.1\r\n';
  const named = f.connectionTokens;
  for (let i = 0; i < pairs.length; i += 2) {
    const k = pairs[i]!;
    if (DROP_REQUEST.has(k) || (named !== null && named.includes(k))) {
      if (k === 'x-forwarded-for') xff = xff ? xff + ', ' + pairs[i + 1] : pairs[i + 1]!;
      else if (k === 'via') via = via ? via + ', ' + pairs[i + 1] : pairs[i + 1]!;
      continue;
    }
    head += k + ': ' + pairs[i + 1] + '\r\n';
  }
  head +=
    'x-forwarded-for: ' + (xff ? xff + ', ' + f.clientIp : f.clientIp) +
    '\r\nx-forwarded-proto: ' + f.proto +
    '\r\nx-forwarded-port: ' + f.port +
    '\r\nx-request-start: ' + f.startMs +
    '\r\nx-request-id: ' + f.requestId +
    '\r\nvia: ' + (via ? via + ', ' + VIA : VIA) + '\r\n';
  if (f.contentLength >= 0) head += 'content-length: ' + f.contentLength + '\r\n';
  else if (f.chunked) head += 'transfer-encoding: chunked\r\n';
  return head + 'connection: keep-alive\r\n\r\n';
}

/** Whether a response header from the dyno goes to the client; `named` are the Connection header's tokens. */
export function keepResponseHeader(lowerName: string, named: string[] | null): boolean {
  return !DROP_RESPONSE.has(lowerName) && (named === null || !named.includes(lowerName));
}

/** WebSocket handshake headers the `ws` client writes itself. */
const DROP_WS = new Set(['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol']);

/** The same forwarding rules as `requestHead`, as an object for the `ws` client (WebSocket upgrades). */
export function forwardHeaders(pairs: readonly string[], f: ForwardFacts): Record<string, string> {
  const out: Record<string, string> = {};
  let xff = '';
  let via = '';
  for (let i = 0; i < pairs.length; i += 2) {
    const k = pairs[i]!;
    const v = pairs[i + 1]!;
    if (k === 'x-forwarded-for') xff = xff ? xff + ', ' + v : v;
    else if (k === 'via') via = via ? via + ', ' + v : v;
    if (DROP_REQUEST.has(k) || DROP_WS.has(k) || (f.connectionTokens !== null && f.connectionTokens.includes(k))) continue;
    out[k] = out[k] !== undefined ? out[k] + ', ' + v : v;
  }
  out['x-forwarded-for'] = xff ? xff + ', ' + f.clientIp : f.clientIp;
  out['x-forwarded-proto'] = f.proto === 'https' ? 'https' : 'http';
  out['x-forwarded-port'] = String(f.port);
  out['x-request-start'] = String(f.startMs);
  out['x-request-id'] = f.requestId;
  out['via'] = via ? via + ', ' + VIA : VIA;
  return out;
}
