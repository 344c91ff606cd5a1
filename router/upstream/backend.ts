/**
 * A backend is one routable web dyno (one endpoint record): its address, its
 * keep-alive pool, and the live numbers the balancer reads (in-flight count,
 * quarantine). Backends outlive route-table swaps: the table builder hands the
 * same object to every table while the endpoint record stays the same.
 */
import { connect, type Socket } from 'node:net';
import { Conn } from './conn.ts';

export interface PoolOptions {
  /**
   * Idle connections kept per backend. Generous on purpose: with many busy clients, a small
   * idle cap closes connections only to open new ones for the next requests (bench conns1000:
   * 128 → 9.4k req/s, 1024 → 33k on this machine).
   */
  maxIdle: number;
  /** Idle connections are closed after this long (Heroku Router 2.0: 90 s; keep it under a dyno's keep-alive timeout). */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
}

/** Bytes read from a dyno connection at a time (as node's own stream reads). */
const READ_BUFFER = 64 * 1024;

export const DEFAULT_POOL: PoolOptions = { maxIdle: 1024, idleTimeoutMs: 4_000, connectTimeoutMs: 5_000 };

/** Receives the outcome of `acquire`; exactly one of the two is called. */
export interface ConnectWaiter {
  onConnected(conn: Conn): void;
  onConnectFailed(err: Error & { code?: string }, backend: Backend): void;
}

interface Pool {
  idle: Conn[];
  idleSince: number[];
  all: Set<Conn>;
}

export class Backend {
  inFlight = 0;
  /** Epoch ms until which the balancer skips this backend. */
  quarantinedUntil = 0;
  connectErrors = 0;
  retired = false;
  /** Connections, made on the first connect: 100,000 endpoints mostly never see a request from this router. */
  private pool: Pool | null = null;

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
    return this.pool?.all.size ?? 0;
  }

  /** A pooled connection if one is idle, else a new one; the waiter hears back once. */
  acquire(w: ConnectWaiter): void {
    const now = Date.now();
    const pool = this.pool;
    while (pool !== null && pool.idle.length > 0) {
      const conn = pool.idle.pop()!;
      const since = pool.idleSince.pop()!;
      if (conn.closed || conn.socket.destroyed) continue;
      if (now - since > this.opts.idleTimeoutMs) {
        conn.destroy();
        continue;
      }
      w.onConnected(conn);
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
      (this.pool ??= { idle: [], idleSince: [], all: new Set() }).all.add(conn);
      w.onConnected(conn);
    });
  }

  private free(conn: Conn): void {
    const pool = this.pool;
    if (pool === null || this.retired || pool.idle.length >= this.opts.maxIdle) {
      conn.destroy();
      return;
    }
    pool.idle.push(conn);
    pool.idleSince.push(Date.now());
  }

  private forget(conn: Conn): void {
    const pool = this.pool;
    if (pool === null) return;
    pool.all.delete(conn);
    const i = pool.idle.indexOf(conn);
    if (i >= 0) {
      pool.idle.splice(i, 1);
      pool.idleSince.splice(i, 1);
    }
  }

  /** Close pooled connections idle for longer than the pool's idle timeout (called every few seconds). */
  sweep(now: number): void {
    const pool = this.pool;
    if (pool === null) return;
    const { idle, idleSince } = pool;
    let keep = 0;
    const stale: Conn[] = [];
    for (let i = 0; i < idle.length; i++) {
      if (now - idleSince[i]! > this.opts.idleTimeoutMs) stale.push(idle[i]!);
      else {
        idle[keep] = idle[i]!;
        idleSince[keep++] = idleSince[i]!;
      }
    }
    idle.length = keep;
    idleSince.length = keep;
    for (const c of stale) c.destroy();
  }

  /** The endpoint left the table: close idle connections now, busy ones when their exchange ends. */
  retire(): void {
    this.retired = true;
    const pool = this.pool;
    if (pool === null) return;
    const idle = pool.idle.splice(0);
    pool.idleSince.length = 0;
    for (const c of idle) c.destroy();
  }

  /** Close everything now (router shutdown). */
  destroy(): void {
    this.retire();
    if (this.pool !== null) for (const c of [...this.pool.all]) c.destroy();
  }

  quarantine(ms: number, now = Date.now()): void {
    this.quarantinedUntil = now + ms;
  }

  isQuarantined(now: number): boolean {
    return this.quarantinedUntil > now;
  }
}

export type { Socket };
