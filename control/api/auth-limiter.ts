/**
 * Failed authentication is rate limited per client address: after `max` failed
 * attempts (a wrong, revoked or expired token) within `windowMs`, every request
 * from that address that presents credentials gets 429 with Retry-After until
 * the oldest failure leaves the window. The token is not even looked up then,
 * so guessing gets no answer at all. Requests with no credentials are not
 * counted: git and browsers send one first to learn the auth scheme.
 */
import type { Cluster } from '../../cluster/client.ts';

export interface LimiterOptions {
  max: number;
  windowMs: number;
}

/** 20 failures a minute: far above a person mistyping, far below guessing. Override with DYNOMESH_AUTH_FAILURES=max/seconds. */
export function defaultLimits(env = process.env.DYNOMESH_AUTH_FAILURES): LimiterOptions {
  const m = /^(\d+)\/(\d+)$/.exec(env ?? '');
  return m ? { max: Number(m[1]), windowMs: Number(m[2]) * 1000 } : { max: 20, windowMs: 60_000 };
}

const MAX_ADDRESSES = 10_000;

export class AuthLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(public options: LimiterOptions = defaultLimits()) {}

  /** Seconds to wait when the address is over the limit, else 0. */
  retryAfter(address: string, now = Date.now()): number {
    const list = this.recent(address, now);
    if (list.length < this.options.max) return 0;
    return Math.max(1, Math.ceil((list[0]! + this.options.windowMs - now) / 1000));
  }

  fail(address: string, now = Date.now()): void {
    const list = this.recent(address, now);
    list.push(now);
    this.failures.set(address, list);
    // Bounded memory under a flood of addresses: forget the oldest-seen ones.
    if (this.failures.size > MAX_ADDRESSES) this.failures.delete(this.failures.keys().next().value!);
  }

  private recent(address: string, now: number): number[] {
    const list = this.failures.get(address);
    if (!list) return [];
    const from = now - this.options.windowMs;
    while (list.length && list[0]! <= from) list.shift();
    if (!list.length) this.failures.delete(address);
    return list;
  }
}

/** One limiter per control instance (its Cluster client), shared by the API and attach servers. */
const limiters = new WeakMap<Cluster, AuthLimiter>();
export function authLimiter(cluster: Cluster): AuthLimiter {
  let l = limiters.get(cluster);
  if (!l) limiters.set(cluster, (l = new AuthLimiter()));
  return l;
}
