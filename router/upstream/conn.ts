/**
 * One keep-alive HTTP/1.1 connection to a dyno, with node's llhttp binding as
 * the response parser (the same one node:http uses, without its object layers).
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
}

const { HTTPParser } = createRequire(import.meta.url)('_http_common') as { HTTPParser: ParserClass };

/** Where unexpected errors in response handling are reported (the router sets its logger). */
let onConnError: (err: Error) => void = () => undefined;
export function setConnErrorHandler(fn: (err: Error) => void): void {
  onConnError = fn;
}
/** Response heads larger than this are refused (Heroku: 512 KB header line; H25). */
const MAX_RESPONSE_HEAD = 256 * 1024;

export class Conn {
  owner: ConnOwner | null = null;
  /** Requests served on this connection, so a stale keep-alive reuse can be told from a fresh connect. */
  served = 0;
  private readonly parser: LlhttpParser;
  private headers: string[] = [];
  /** The current response is informational (100/102/103): skip it, the real head follows. */
  private informational = false;
  private keepAlive = true;
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
      if (this.informational) {
        this.informational = false;
        return;
      }
      const o = this.owner;
      this.owner = null;
      this.served++;
      o?.onUpstreamEnd();
    };
    p[HTTPParser.kOnExecute] = () => undefined;
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
    const r = this.parser.execute(buf);
    if (r instanceof Error) {
      this.gone(new Error(`bad response from dyno: ${(r as Error & { code?: string }).code ?? r.message}`));
      this.socket.destroy();
    }
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
