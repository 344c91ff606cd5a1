/**
 * One request's exchange with a dyno, as a state machine driven by uWS and socket
 * callbacks: dispatch (pick a dyno, connect, retry a failed connect) -> request
 * head and body out (backpressure both ways) -> response head, body and end back
 * -> finish (metrics, connection reuse, in-flight slot, log line). Callbacks reach
 * it through prototype methods, never per-step closures; client writes go through
 * the cork bridge (cork.ts) and timers through the shared ticker (deadlines.ts).
 *
 * Retry rule: only a failed *connect* is retried on the next dyno (nothing was
 * sent, so it is safe for any method), plus one retry on a fresh connection when
 * a reused keep-alive connection dies before any response byte and the request
 * had no body (the dyno closed an idle connection as we picked it), or when the
 * connection of a bodyless idempotent request (GET, HEAD, OPTIONS...) is reset
 * before any response byte (its dyno was killed mid-request).
 */
import type { HttpResponse } from './uws.ts';
import { bookConnectFailure, exhaustedCode, mayRetry } from './admit.ts';
import { markTried, pick, type Tried } from './balancer/pick.ts';
import type { Backend, ConnectWaiter } from './upstream/backend.ts';
import type { Conn, ConnOwner } from './upstream/conn.ts';
import { ERRORS, isHerokuCode, type ErrorCode } from './errors.ts';
import { keepResponseHeader } from './headers.ts';
import { formatLine } from './log-line.ts';
import * as cork from './cork.ts';
import type { Corked } from './cork.ts';
import { Deadlines, type Timed } from './deadlines.ts';
import type { ProxyContext } from './proxy.ts';
import type { AppRoute } from './table/route-table.ts';

/** Methods a dyno may see twice without harm (RFC 9110 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Request bodies buffered before the dyno connection is up; above this the client upload is paused. */
const PREBUFFER = 64 * 1024;
/** Largest chunked-body write per uWS cork (its cork buffer is 16 KB; see flushChunked). */
const CHUNK_PIECE = 16 * 1024 - 64;
const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

const enum Timer {
  None,
  FirstByte,
  Idle,
}

export class Exchange implements ConnOwner, ConnectWaiter, Timed, Corked {
  // request
  method = '';
  target = '';
  host = '';
  clientIp = '';
  requestId = '';
  head = '';
  hasBody = false;
  chunkedBody = false;
  /** The client sent `Connection: close`: uWS closes after the response but does not say so; we do. */
  clientClose = false;
  startMs = 0;
  // routing
  route: AppRoute | null = null;
  affinityKey: string | null = null;
  /** The dyno this request holds an in-flight slot on (null once released). */
  backend: Backend | null = null;
  /** Name of the last dyno tried, for the log line. */
  dyno = '';
  tried: Tried = 0;
  tries = 0;
  staleRetried = false;
  conn: Conn | null = null;
  connectStart = 0;
  connectMs = 0;
  lastConnectError = '';
  // request body
  bodyQueue: Buffer[] = [];
  queuedBytes = 0;
  bodyDone = false;
  requestSent = false;
  clientPaused = false;
  // response
  status = 0;
  respLen = -1;
  headersSent = false;
  /** The client response is complete (tryEnd reached the length, end(), or endWithoutBody()). */
  clientEnded = false;
  upstreamEnded = false;
  outQueue: Buffer[] = [];
  stalledChunk: Buffer | null = null;
  stalledOffset = 0;
  writableHooked = false;
  connectionTokens: string[] | null = null;
  bytesOut = 0;
  // lifecycle
  done = false;
  /** When the armed timer (timerKind) fires; deadlines.ts keeps the list and the ticker. */
  deadline = 0;
  timerKind = Timer.None;
  tPrev: Timed | null = null;
  tNext: Timed | null = null;
  tracked = false;
  pendingHeaders: string[] = EMPTY;
  pendingLower: string[] = EMPTY;
  pendingReason = '';

  constructor(readonly ctx: ProxyContext, readonly res: HttpResponse) {}

  // ---- upstream connection -------------------------------------------------

  /** Pick a dyno (bounded loads) and ask its pool for a connection. */
  dispatch(): void {
    const route = this.route!;
    const now = Date.now();
    const slot = pick(route, this.affinityKey, this.tried, now);
    if (slot < 0) return this.giveUp();
    this.tried = markTried(this.tried, slot, route.backends.length);
    this.tries++;
    const b = (this.backend = route.backends[slot]!);
    b.inFlight++;
    this.dyno = b.dyno;
    this.connectStart = now;
    b.acquire(this);
  }

  onConnectFailed(err: Error & { code?: string }, b: Backend): void {
    if (this.done) {
      bookConnectFailure(this.ctx, b); // finish() already gave back the in-flight slot
      return;
    }
    b.inFlight--;
    this.backend = null;
    this.lastConnectError = err.code ?? err.message;
    bookConnectFailure(this.ctx, b);
    if (mayRetry(this.ctx, this.route!, this.tries)) return this.dispatch();
    this.giveUp();
  }

  /** No dyno could take the request (admit.ts `exhaustedCode`). */
  giveUp(): void {
    this.fail(exhaustedCode(this.route!, this.lastConnectError, Date.now()));
  }

  onConnected(conn: Conn): void {
    if (this.done) {
      // the client left while we connected; finish() already gave back the in-flight slot
      conn.release();
      return;
    }
    this.conn = conn;
    conn.owner = this;
    this.connectMs = Date.now() - this.connectStart;
    const s = conn.socket;
    if (!this.hasBody) {
      // the common case: head only, one write(2) without the cork/uncork round
      s.write(this.head);
      this.requestSent = true;
      this.armTimer(Timer.FirstByte);
      return;
    }
    s.cork();
    s.write(this.head);
    for (const chunk of this.bodyQueue) this.writeBody(chunk);
    this.bodyQueue.length = 0;
    this.queuedBytes = 0;
    if (this.bodyDone) this.endBody();
    s.uncork();
    if (this.clientPaused && !s.writableNeedDrain) this.resumeClient();
    if (this.bodyDone) this.armTimer(Timer.FirstByte);
    else this.armTimer(Timer.Idle);
  }

  writeBody(chunk: Buffer): boolean {
    const s = this.conn!.socket;
    if (this.chunkedBody) {
      s.write(chunk.length.toString(16) + '\r\n');
      s.write(chunk);
      return s.write(CRLF);
    }
    return s.write(chunk);
  }

  endBody(): void {
    if (this.chunkedBody) this.conn!.socket.write(LAST_CHUNK);
    this.requestSent = true;
  }

  // ---- request body from the client (uWS onData) ---------------------------

  onClientData(chunk: Buffer, isLast: boolean): void {
    if (this.done) return;
    if (chunk.length > 0) this.ctx.metrics.bytesIn += chunk.length;
    if (this.conn === null) {
      if (chunk.length > 0) {
        this.bodyQueue.push(chunk);
        this.queuedBytes += chunk.length;
        if (this.queuedBytes > PREBUFFER) this.pauseClient();
      }
      if (isLast) this.bodyDone = true;
      return;
    }
    let ok = true;
    if (chunk.length > 0) ok = this.writeBody(chunk);
    if (isLast) {
      this.bodyDone = true;
      this.endBody();
      if (!this.headersSent) this.armTimer(Timer.FirstByte);
    } else if (this.timerKind !== Timer.None) this.refreshTimer();
    if (!ok) this.pauseClient();
  }

  pauseClient(): void {
    if (this.clientPaused || this.done) return;
    this.clientPaused = true;
    this.res.pause();
  }

  resumeClient(): void {
    if (!this.clientPaused || this.done) return;
    this.clientPaused = false;
    this.res.resume();
  }

  onUpstreamDrain(): void {
    this.resumeClient();
  }

  // ---- response from the dyno ---------------------------------------------

  onUpstreamData(conn: Conn, buf: Buffer): void {
    if (this.done) return conn.execute(buf);
    // One cork around the whole parse: head, body and end of a response that arrived together go out in one send.
    cork.parse(this, conn, buf);
    if (this.respLen < 0 && this.outQueue.length > 0 && this.stalledChunk === null) this.flushChunked();
  }

  onUpstreamHead(status: number, reason: string, headers: string[]): boolean {
    if (this.done) return true;
    this.status = status;
    this.respLen = -1;
    const noBody = this.method === 'HEAD' || status === 204 || status === 304;
    const tokens: string[] = [];
    // names lowercased once, here; writeHead filters with them
    const lower = new Array<string>(headers.length >> 1);
    for (let i = 0; i < headers.length; i += 2) {
      const k = (lower[i >> 1] = headers[i]!.toLowerCase());
      if (k === 'content-length') this.respLen = Number(headers[i + 1]);
      else if (k === 'connection') for (const t of headers[i + 1]!.toLowerCase().split(',')) tokens.push(t.trim());
    }
    this.connectionTokens = tokens.length ? tokens : null;
    this.pendingHeaders = headers;
    this.pendingLower = lower;
    this.pendingReason = reason;
    cork.head(this, noBody);
    this.armTimer(Timer.Idle);
    return noBody;
  }

  writeHead(): void {
    const res = this.res;
    const h = this.pendingHeaders;
    res.writeStatus(this.status + ' ' + (this.pendingReason || 'Unknown'));
    if (this.clientClose) res.writeHeader('Connection', 'close');
    if (this.route!.hsts && this.ctx.opts.proto === 'https') res.writeHeader('Strict-Transport-Security', HSTS);
    const named = this.connectionTokens;
    const lower = this.pendingLower;
    for (let i = 0; i < h.length; i += 2) {
      if (keepResponseHeader(lower[i >> 1]!, named)) res.writeHeader(h[i]!, h[i + 1]!);
    }
    this.headersSent = true;
    this.pendingHeaders = this.pendingLower = EMPTY;
  }

  onUpstreamBody(chunk: Buffer): void {
    if (this.done) return;
    this.bytesOut += chunk.length;
    this.ctx.metrics.bytesOut += chunk.length;
    if (this.timerKind !== Timer.None) this.refreshTimer();
    if (this.respLen < 0 || this.stalledChunk !== null || this.outQueue.length > 0) {
      // chunked bodies are written by flushChunked once the parse is done, outside the shared cork
      this.outQueue.push(chunk);
      return;
    }
    cork.body(this, chunk);
  }

  /**
   * Chunked responses (no Content-Length from the dyno). uWS 20.30 loses bytes when a
   * write overflows its 16 KB cork buffer while the client socket is full
   * (AsyncSocket::uncork returns before writing or buffering the new data), and
   * res.write() always writes while corked. So each piece gets a cork of its own and
   * stays under 16 KB; a full socket then shows as the next write returning false,
   * with everything buffered in order.
   */
  flushChunked(): void {
    const q = this.outQueue;
    while (!this.done && this.stalledChunk === null) {
      if (q.length === 0) {
        if (this.upstreamEnded) cork.endAlone(this); else if (this.conn !== null && this.conn.socket.isPaused()) this.conn.socket.resume();
        return;
      }
      let chunk = q[0]!;
      if (chunk.length > CHUNK_PIECE) {
        q[0] = chunk.subarray(CHUNK_PIECE);
        chunk = chunk.subarray(0, CHUNK_PIECE);
      } else q.shift();
      cork.bodyAlone(this, chunk);
    }
  }

  /** Writes one body chunk to the client; false when uWS is backed up (the dyno socket is paused). */
  writeChunk(chunk: Buffer): boolean {
    const res = this.res;
    if (this.respLen >= 0) {
      const before = res.getWriteOffset();
      const [ok, responded] = res.tryEnd(chunk, this.respLen);
      if (responded) {
        this.clientEnded = true;
        return true;
      }
      if (!ok) {
        this.stall(chunk, before);
        return false;
      }
      return true;
    }
    if (!res.write(chunk)) {
      // write() buffered all of it; only wait for onWritable
      this.stall(EMPTY_BUF, 0);
      return false;
    }
    return true;
  }

  stall(chunk: Buffer, offset: number): void {
    this.stalledChunk = chunk;
    this.stalledOffset = offset;
    this.conn?.socket.pause();
    if (!this.writableHooked) {
      this.writableHooked = true;
      this.res.onWritable((off) => this.onClientWritable(off));
    }
  }

  onClientWritable(offset: number): boolean {
    if (this.done || this.stalledChunk === null) return true;
    const res = this.res;
    if (this.stalledChunk.length > 0) {
      const [ok, responded] = res.tryEnd(this.stalledChunk.subarray(offset - this.stalledOffset), this.respLen);
      if (responded) this.clientEnded = true;
      else if (!ok) return false;
    }
    this.stalledChunk = null;
    if (this.timerKind !== Timer.None) this.refreshTimer();
    if (this.respLen < 0) {
      // chunked: onWritable runs corked; write from a fresh cork instead (see flushChunked)
      setImmediate(flushLater, this);
      return true;
    }
    while (this.outQueue.length > 0) {
      if (!this.writeChunk(this.outQueue.shift()!)) return true;
    }
    if (this.upstreamEnded) this.endResponse();
    else this.conn?.socket.resume();
    return true;
  }

  onUpstreamEnd(): void {
    if (this.done) return;
    this.upstreamEnded = true;
    if (this.clientEnded) return this.finish(null);
    if (this.stalledChunk !== null || this.outQueue.length > 0) return; // finished from onClientWritable
    cork.end(this);
  }

  endResponse(): void {
    // tryEnd completes a Content-Length response by itself; a chunked one needs its last chunk
    if (!this.clientEnded) {
      this.clientEnded = true;
      this.res.end();
    }
    this.finish(null);
  }

  onUpstreamClose(err: Error | undefined): void {
    const conn = this.conn;
    this.conn = null;
    if (this.done) return;
    if (!this.headersSent && this.status === 0) {
      // Stale keep-alive connection (the dyno closed it as we reused it), or an idempotent request whose dyno died
      // before answering: resend a bodyless request once, as nginx's proxy_next_upstream does; a dead
      // dyno then refuses the connect and the request moves to the next dyno.
      const retriable = IDEMPOTENT.has(this.method) || (err === undefined && conn !== null && conn.served > 0);
      if (conn !== null && retriable && !this.hasBody && !this.staleRetried) {
        this.staleRetried = true;
        this.clearTimer();
        this.backend!.acquire(this);
        return;
      }
      return this.fail(this.requestSent ? 'H13' : 'H18', err?.message);
    }
    // Mid-response: the status line is gone already; cut the client connection so it sees a truncated body.
    this.finish('H18', true);
  }

  // ---- timers ---------------------------------------------------------------

  armTimer(kind: Timer): void {
    if (this.done) return;
    this.timerKind = kind;
    deadlines.arm(this, kind === Timer.FirstByte ? this.ctx.opts.firstByteTimeoutMs : this.ctx.opts.idleTimeoutMs);
  }

  /** A byte moved: the idle (or first-byte) timer starts over. */
  refreshTimer(): void {
    deadlines.arm(this, this.timerKind === Timer.FirstByte ? this.ctx.opts.firstByteTimeoutMs : this.ctx.opts.idleTimeoutMs);
  }

  clearTimer(): void {
    deadlines.clear(this);
    this.timerKind = Timer.None;
  }

  onTimeout(): void {
    if (this.done) return;
    if (this.timerKind === Timer.FirstByte && !this.headersSent) return this.fail('H12');
    if (!this.headersSent) return this.fail('H15');
    this.finish('H15', true);
  }

  // ---- endings --------------------------------------------------------------

  /** Answer with a router error page (only before any response byte went out). */
  fail(code: ErrorCode, detail?: string): void {
    if (this.done) return;
    const spec = ERRORS[code];
    this.status = spec.status;
    if (this.clientPaused) {
      this.clientPaused = false;
      this.res.resume();
    }
    // An upload still arriving cannot be left half-read on a keep-alive connection: close after the page.
    cork.errorPage(this, spec.statusLine, spec.page, this.hasBody && !this.bodyDone);
    this.headersSent = true;
    this.finish(code, false, detail);
  }

  /**
   * A response the router makes itself (ACME challenge, https redirect): status,
   * headers and a small body, no dyno. The request's body, if any, is not read:
   * the connection closes after the answer.
   */
  answer(status: number, statusLine: string, headers: readonly string[], body: string): void {
    this.status = status;
    const close = this.hasBody || this.clientClose;
    this.res.cork(() => {
      this.res.writeStatus(statusLine);
      for (let i = 0; i < headers.length; i += 2) this.res.writeHeader(headers[i]!, headers[i + 1]!);
      if (close) this.res.writeHeader('Connection', 'close');
      this.res.end(body, close);
    });
    this.headersSent = true;
    this.bytesOut = Buffer.byteLength(body);
    this.finish(null);
  }

  /** Client went away (uWS onAborted): stop the dyno side too. */
  onClientAborted(): void {
    if (this.done) return;
    if (this.status === 0) this.status = 499;
    this.finish('H27', false, undefined, true);
  }

  finish(code: ErrorCode | null, closeClient = false, detail?: string, aborted = false): void {
    if (this.done) return;
    this.done = true;
    this.clearTimer();
    const m = this.ctx.metrics;
    m.inFlight--;
    // One clock read and one H-code test per answer: metrics, the per-app meter and the log line share them.
    const now = Date.now();
    const serviceMs = now - this.startMs;
    const heroku = code !== null && isHerokuCode(code) ? code : null;
    if (this.status > 0 && !aborted) m.response(this.status, serviceMs);
    if (code !== null) m.error(code);
    if (this.route !== null) m.apps.record(this.route.name, aborted ? 0 : this.status, serviceMs, heroku, now);
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) {
      conn.owner = null;
      // Reuse only after a complete exchange in both directions.
      if (code === null && this.requestSent && this.upstreamEnded) conn.release();
      else conn.destroy();
    }
    const b = this.backend;
    if (b !== null) {
      this.backend = null;
      b.inFlight--;
      if (b.retired && b.inFlight === 0) b.destroy();
    }
    if (closeClient && !aborted) this.res.close();
    this.log(heroku, detail, serviceMs);
  }

  /** The Heroku router line; `heroku` is the H code it names, null when the answer was the dyno's (or a plain 4xx). */
  log(heroku: ErrorCode | null, detail: string | undefined, serviceMs: number): void {
    const line = formatLine({
      app: this.route?.name ?? '',
      method: this.method,
      path: this.target,
      host: this.host,
      requestId: this.requestId,
      fwd: this.clientIp,
      dyno: this.dyno,
      connectMs: this.connectMs,
      serviceMs,
      status: this.status,
      bytes: this.bytesOut,
      code: heroku,
      desc: heroku !== null ? (detail ? `${ERRORS[heroku].desc}: ${detail}` : ERRORS[heroku].desc) : null,
      protocol: this.ctx.opts.proto,
    });
    this.ctx.sink.write(this.route?.name ?? '', line, heroku !== null);
  }
}


const EMPTY: string[] = [];
const EMPTY_BUF = Buffer.alloc(0);
const HSTS = 'max-age=31536000';

/** Every exchange's first-byte and idle timers, checked by one ticker. */
export const deadlines = new Deadlines();

function flushLater(ex: Exchange): void {
  ex.flushChunked();
}
