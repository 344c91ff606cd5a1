/**
 * A backend is one routable web dyno (one endpoint record): its address, its
 * keep-alive pool, and the live numbers the balancer reads (in-flight count,
 * quarantine). Backends outlive route-table swaps: the table builder hands the
 * same object to every table while the endpoint record stays the same.
 */
import { connect, type Socket } from 'node:net';
import { Conn } from './conn.ts';

export interface PoolOptions {
  /** Idle connections kept per backend. */
  maxIdle: number;
  /** Idle connections are closed after this long (Heroku Router 2.0: 90 s; keep it under a dyno's keep-alive timeout). */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
}

/** Bytes read from a dyno connection at a time (as node's own stream reads). */
const READ_BUFFER = 64 * 1024;

export const DEFAULT_POOL: PoolOptions = { maxIdle: 128, idleTimeoutMs: 4_000, connectTimeoutMs: 5_000 };

/** Receives the outcome of `acquire`; exactly one of the two is called. */
export interface ConnectWaiter {
  onConnected(conn: Conn, reused: boolean): void;
  onConnectFailed(err: Error & { code?: string }, backend: Backend): void;
}

export class Backend {
  inFlight = 0;
  /** Epoch ms until which the balancer skips this backend. */
  quarantinedUntil = 0;
  connectErrors = 0;
  retired = false;
  private readonly idle: Conn[] = [];
  private readonly idleSince: number[] = [];
  private readonly all = new Set<Conn>();

  constructor(
    readonly app: string,
    readonly dyno: string,
    readonly host: string,
    readonly port: number,
    readonly release: number,
    private readonly opts: PoolOptions = DEFAULT_POOL,
    /** The node the dyno runs on (from the endpoint record; passed on to worker threads). */
    readonly node = '',
  ) {}

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get openConnections(): number {
    return this.all.size;
  }

  /** A pooled connection if one is idle, else a new one; the waiter hears back once. */
  acquire(w: ConnectWaiter): void {
    const now = Date.now();
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      const since = this.idleSince.pop()!;
      if (conn.closed || conn.socket.destroyed) continue;
      if (now - since > this.opts.idleTimeoutMs) {
        conn.destroy();
        continue;
      }
      w.onConnected(conn, true);
      return;
    }
    // One read buffer per connection, reused for every read (no allocation per read); Conn.onData explains the rule.
    let reader: Conn | null = null;
    const socket = connect({
      host: this.host, port: this.port, noDelay: true,
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER),
        callback: (n: number, buf: Uint8Array): boolean => {
          if (reader === null) socket.destroy(); // a dyno talking before any request
          else reader.onData((buf as Buffer).subarray(0, n));
          return true;
        },
      },
    });
    let done = false;
    const timer = setTimeout(() => fail(Object.assign(new Error(`connect timeout after ${this.opts.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })), this.opts.connectTimeoutMs);
    const fail = (err: Error & { code?: string }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      w.onConnectFailed(err, this);
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('error', fail);
      const conn = (reader = new Conn(socket, (c) => this.free(c), (c) => this.forget(c)));
      this.all.add(conn);
      w.onConnected(conn, false);
    });
  }

  private free(conn: Conn): void {
    if (this.retired || this.idle.length >= this.opts.maxIdle) {
      conn.destroy();
      return;
    }
    this.idle.push(conn);
    this.idleSince.push(Date.now());
  }

  private forget(conn: Conn): void {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) {
      this.idle.splice(i, 1);
      this.idleSince.splice(i, 1);
    }
  }

  /** Close pooled connections idle for longer than the pool's idle timeout (called every few seconds). */
  sweep(now: number): void {
    let keep = 0;
    for (let i = 0; i < this.idle.length; i++) {
      if (now - this.idleSince[i]! > this.opts.idleTimeoutMs) this.idle[i]!.destroy();
      else {
        this.idle[keep] = this.idle[i]!;
        this.idleSince[keep++] = this.idleSince[i]!;
      }
    }
    this.idle.length = keep;
    this.idleSince.length = keep;
  }

  /** The endpoint left the table: close idle connections now, busy ones when their exchange ends. */
  retire(): void {
    this.retired = true;
    for (const c of this.idle.splice(0)) c.destroy();
    this.idleSince.length = 0;
  }

  /** Close everything now (router shutdown). */
  destroy(): void {
    this.retire();
    for (const c of [...this.all]) c.destroy();
  }

  quarantine(ms: number, now = Date.now()): void {
    this.quarantinedUntil = now + ms;
  }

  isQuarantined(now: number): boolean {
    return this.quarantinedUntil > now;
  }
}

export type { Socket };
