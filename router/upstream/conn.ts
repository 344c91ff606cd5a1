/**
 * One keep-alive HTTP/1.1 connection to a dyno, with node's llhttp binding as
 * the response parser (the same one node:http uses, without its object layers).
 *
 * The common response (HTTP/1.1, a status >= 200, plain headers, Content-Length, the
 * whole head in one read) skips llhttp: `fastHead` parses it with one sticky regex and
 * counts the body through (`fastLeft`), which saves llhttp's three C++ -> JS callbacks and
 * a string per header made in C++. Anything else (1xx, chunked, close-delimited, a head
 * split across reads, anything the regex does not match) goes to llhttp unchanged, which
 * is only ever handed bytes at a message boundary.
 *
 * A connection serves one exchange at a time (no pipelining: a dyno may not
 * support it, and a stuck response would block the ones behind it). The
 * exchange that owns it receives head, body and end through `ConnOwner`; body
 * chunks are slices of the connection's one read buffer (`onread`: no Buffer and
 * no stream machinery per read), never copied here.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

export interface ConnOwner {
  /**
   * Bytes from the dyno arrived: call `conn.execute(buf)` now, wrapped in whatever
   * batching the owner wants (the proxy runs it inside uWS `cork`, so head and body
   * of a small response leave in one send).
   */
  onUpstreamData(conn: Conn, buf: Buffer): void;
  /** Response head; return true to tell the parser that no body follows (HEAD). */
  onUpstreamHead(status: number, reason: string, headers: string[], keepAlive: boolean): boolean;
  onUpstreamBody(chunk: Buffer): void;
  onUpstreamEnd(): void;
  /** The socket closed or failed while this owner held it; `err` is a parse error or socket error. */
  onUpstreamClose(err: Error | undefined): void;
  /** The socket drained its write buffer (request body backpressure). */
  onUpstreamDrain(): void;
}

interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(buf: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  free(): void;
  [k: number]: unknown;
}
interface ParserClass {
  new (): LlhttpParser;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
  kOnMessageBegin: number;
}
/** Buffer's own latin1 decoder (what `toString('latin1', a, b)` ends in, without its argument checks). */
type Latin1 = Buffer & { latin1Slice(start: number, end: number): string };

const { HTTPParser } = createRequire(import.meta.url)('_http_common') as { HTTPParser: ParserClass };

/** Where unexpected errors in response handling are reported (the router sets its logger). */
let onConnError: (err: Error) => void = () => undefined;
export function setConnErrorHandler(fn: (err: Error) => void): void {
  onConnError = fn;
}
/** Response heads larger than this are refused (Heroku: 512 KB header line; H25). */
const MAX_RESPONSE_HEAD = 256 * 1024;

/** Heads up to this size may take the fast path (bigger ones go to llhttp). */
const FAST_HEAD_MAX = 8 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');
/** `HTTP/1.1 200 OK\r\n`: a 3-digit status >= 200, a reason without control characters. */
const STATUS_LINE = /^HTTP\/1\.1 ([2-9]\d\d)(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?\r\n/;
/** One header line: an RFC 9110 token, a colon, a value without control characters (OWS trimmed). */
const HEADER_LINE = /([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*\r\n/y;
const DIGITS = /^\d{1,15}$/;
const CLOSE_TOKEN = /(?:^|,)\s*close\s*(?:,|$)/i;

export class Conn {
  owner: ConnOwner | null = null;
  /** Requests served on this connection, so a stale keep-alive reuse can be told from a fresh connect. */
  served = 0;
  /** How many of those the fast path parsed (the rest went through llhttp). */
  fastServed = 0;
  private readonly parser: LlhttpParser;
  private headers: string[] = [];
  /** The current response is informational (100/102/103): skip it, the real head follows. */
  private informational = false;
  private keepAlive = true;
  /** llhttp holds no partial message: the next bytes start a response (the fast path may take it). */
  private atBoundary = true;
  /** Body bytes still due on a response the fast path took (llhttp is idle meanwhile); -1 when none. */
  private fastLeft = -1;
  closed = false;

  constructor(readonly socket: Socket, private readonly onFree: (conn: Conn) => void, private readonly onGone: (conn: Conn) => void) {
    const p = (this.parser = new HTTPParser());
    p.initialize(HTTPParser.RESPONSE, {}, MAX_RESPONSE_HEAD, 0);
    p[HTTPParser.kOnHeaders] = (h: string[]) => {
      this.headers = this.headers.length ? this.headers.concat(h) : h;
    };
    p[HTTPParser.kOnHeadersComplete] = (
      _maj: number, _min: number, h: string[] | undefined, _m: unknown, _u: unknown, status: number, reason: string, _upg: boolean, keepAlive: boolean,
    ): number => {
      const headers = h === undefined ? this.headers : this.headers.length ? this.headers.concat(h) : h;
      this.headers = [];
      if (status >= 100 && status < 200 && status !== 101) {
        this.informational = true;
        return 0;
      }
      this.keepAlive = keepAlive;
      const o = this.owner;
      if (!o) return 1;
      return o.onUpstreamHead(status, reason, headers, keepAlive) ? 1 : 0;
    };
    p[HTTPParser.kOnBody] = (b: Buffer) => this.owner?.onUpstreamBody(b);
    p[HTTPParser.kOnMessageComplete] = () => {
      this.atBoundary = true;
      if (this.informational) {
        this.informational = false;
        return;
      }
      this.responseEnded();
    };
    p[HTTPParser.kOnExecute] = () => undefined;
    p[HTTPParser.kOnMessageBegin] = () => {
      this.atBoundary = false;
    };
    // bytes arrive through the socket's `onread` buffer (see Backend.acquire), not 'data' events
    socket.on('end', () => this.onEof());
    socket.on('error', (err) => this.gone(err));
    socket.on('close', () => this.gone(undefined));
    socket.on('drain', () => this.owner?.onUpstreamDrain());
  }

  /**
   * Bytes from the dyno, a view of this connection's read buffer: valid only until the
   * next read. Everything that keeps a body slice past this call (a stalled or queued
   * client write) pauses the socket first, so no read can overwrite it.
   */
  onData(buf: Buffer): void {
    if (this.owner === null) {
      // Bytes with no request outstanding: the dyno is not speaking HTTP/1.1 keep-alive properly.
      this.socket.destroy();
      return;
    }
    try {
      this.owner.onUpstreamData(this, buf);
    } catch (err) {
      // A bug on one request's path must not take the router down: drop this exchange only.
      onConnError(err as Error);
      try {
        this.gone(err as Error);
      } catch {
        // the owner could not answer either; the socket still goes
      }
      this.socket.destroy();
    }
  }

  /** Feeds the response parser; its callbacks reach the owner synchronously. */
  execute(buf: Buffer): void {
    if (this.fastLeft >= 0) return this.fastBody(buf, 0);
    if (this.atBoundary && this.fastHead(buf)) return;
    const r = this.parser.execute(buf);
    if (r instanceof Error) {
      this.gone(new Error(`bad response from dyno: ${(r as Error & { code?: string }).code ?? r.message}`));
      this.socket.destroy();
    }
  }

  /**
   * The whole head of a plain Content-Length response is in `buf`: hand it to the owner and
   * count the body through. False (nothing consumed, owner not called) sends `buf` to llhttp.
   */
  private fastHead(buf: Buffer): boolean {
    const o = this.owner;
    if (o === null) return false;
    const end = buf.indexOf(HEAD_END);
    if (end < 0 || end > FAST_HEAD_MAX) return false;
    const head = (buf as Latin1).latin1Slice(0, end + 2);
    const st = STATUS_LINE.exec(head);
    if (st === null) return false;
    const headers: string[] = [];
    let length = -1;
    let keepAlive = true;
    HEADER_LINE.lastIndex = st[0].length;
    while (HEADER_LINE.lastIndex < head.length) {
      const m = HEADER_LINE.exec(head);
      if (m === null) return false;
      const name = m[1]!;
      const value = m[2]!;
      if (name.length === 14 && name.toLowerCase() === 'content-length') {
        if (length >= 0 || !DIGITS.test(value)) return false; // duplicates and odd values: llhttp decides
        length = Number(value);
      } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return false;
      else if (name.length === 10 && name.toLowerCase() === 'connection' && CLOSE_TOKEN.test(value)) keepAlive = false;
      headers.push(name, value);
    }
    const bodyStart = end + 4;
    // no length (close-delimited) or bytes beyond this response: llhttp
    if (length < 0 || buf.length - bodyStart > length) return false;
    this.keepAlive = keepAlive;
    const noBody = o.onUpstreamHead(Number(st[1]), st[2] ?? '', headers, keepAlive);
    if (this.closed || this.owner !== o) return true; // the exchange ended inside (client gone)
    this.fastLeft = noBody ? 0 : length;
    if (noBody && buf.length > bodyStart) {
      this.gone(new Error('bad response from dyno: bytes after a response without a body'));
      this.socket.destroy();
      return true;
    }
    this.fastBody(buf, bodyStart);
    return true;
  }

  /** Body bytes of a fast-path response, from `buf[from]` on; completes the response at its length. */
  private fastBody(buf: Buffer, from: number): void {
    const n = Math.min(buf.length - from, this.fastLeft);
    if (n > 0) {
      this.fastLeft -= n;
      this.owner?.onUpstreamBody(from === 0 && n === buf.length ? buf : buf.subarray(from, from + n));
    }
    if (this.fastLeft > 0) return;
    this.fastLeft = -1;
    this.fastServed++;
    this.responseEnded();
    // A dyno that sends more than it announced is not speaking HTTP/1.1 keep-alive properly.
    if (from + n < buf.length) this.socket.destroy();
  }

  /** A whole response went to the owner: the connection is free for the next request. */
  private responseEnded(): void {
    const o = this.owner;
    this.owner = null;
    this.served++;
    o?.onUpstreamEnd();
  }

  private onEof(): void {
    // A close-delimited body ends at EOF; finish() completes it (and calls onUpstreamEnd).
    if (this.owner) this.parser.finish();
    this.gone(undefined);
    this.socket.destroy();
  }

  /** Called by the owner when its response is complete and the request was fully written. */
  release(): void {
    if (this.closed) return;
    if (!this.keepAlive) {
      this.socket.destroy();
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    this.onFree(this);
  }

  destroy(): void {
    this.owner = null;
    this.socket.destroy();
  }

  private gone(err: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    const o = this.owner;
    this.owner = null;
    try {
      this.parser.close();
    } catch {
      // already closed
    }
    this.onGone(this);
    o?.onUpstreamClose(err);
  }
}
