/**
 * The cork bridge: every write to a client goes through uWS `res.cork(fn)`, which
 * batches what `fn` writes into one send(2). uWS runs `fn` synchronously inside
 * cork(), so instead of a closure per call, the arguments travel in module-level
 * slots set just before and read at once by the static callbacks below. Nothing
 * else may touch the slots; nothing awaits between setting and reading them.
 *
 * `parse` opens one cork around a whole read from the dyno: the head, body and end
 * that arrived together leave in one send. While it is open (`open === ex.res`),
 * `run` calls the callback directly instead of corking again.
 */
import type { HttpResponse } from './uws.ts';
import type { Conn } from './upstream/conn.ts';

/** What the callbacks need of an exchange (router/exchange.ts). */
export interface Corked {
  readonly res: HttpResponse;
  readonly method: string;
  readonly clientClose: boolean;
  respLen: number;
  clientEnded: boolean;
  writeHead(): void;
  writeChunk(chunk: Buffer): boolean;
  endResponse(): void;
}

const EMPTY_BUF = Buffer.alloc(0);

let ex: Corked;
let chunk: Buffer = EMPTY_BUF;
let page: Buffer = EMPTY_BUF;
let statusLine = '';
let closeAfter = false;
let conn: Conn;
let data: Buffer = EMPTY_BUF;
/** The response whose cork is open now. */
let open: HttpResponse | null = null;

/** Feeds a read from the dyno to its parser inside one cork of the client response. */
export function parse(e: Corked, c: Conn, buf: Buffer): void {
  ex = e;
  conn = c;
  data = buf;
  e.res.cork(onParse);
}

/** The response head (and, for an empty body, its end). */
export function head(e: Corked, noBody: boolean): void {
  ex = e;
  run(e, noBody ? onHeadNoBody : onHead);
}

export function body(e: Corked, c: Buffer): void {
  ex = e;
  chunk = c;
  run(e, onBody);
}

/** One body piece in a cork of its own (chunked responses, see Exchange.flushChunked). */
export function bodyAlone(e: Corked, c: Buffer): void {
  ex = e;
  chunk = c;
  e.res.cork(onBody);
}

export function end(e: Corked): void {
  ex = e;
  run(e, onEnd);
}

export function endAlone(e: Corked): void {
  ex = e;
  e.res.cork(onEnd);
}

/** A router error page; `close` ends the connection after it. */
export function errorPage(e: Corked, status: string, html: Buffer, close: boolean): void {
  ex = e;
  statusLine = status;
  page = html;
  closeAfter = close;
  run(e, onError);
}

function run(e: Corked, fn: () => void): void {
  if (open === e.res) fn();
  else e.res.cork(fn);
}

function onParse(): void {
  const buf = data;
  data = EMPTY_BUF;
  open = ex.res;
  try {
    conn.execute(buf);
  } finally {
    open = null;
  }
}

function onHead(): void {
  ex.writeHead();
  if (ex.respLen === 0) {
    ex.clientEnded = true;
    ex.res.end();
  }
}

function onHeadNoBody(): void {
  const e = ex;
  e.writeHead();
  if (e.respLen >= 0 && e.method === 'HEAD') e.res.writeHeader('Content-Length', String(e.respLen));
  e.clientEnded = true;
  e.res.endWithoutBody();
}

function onBody(): void {
  ex.writeChunk(chunk);
}

function onEnd(): void {
  ex.endResponse();
}

function onError(): void {
  const res = ex.res.writeStatus(statusLine);
  if (closeAfter || ex.clientClose) res.writeHeader('Connection', 'close');
  res.writeHeader('Content-Type', 'text/html; charset=utf-8').writeHeader('Cache-Control', 'no-cache, no-store').end(page, closeAfter);
}
