/**
 * What an HTTP request and a WebSocket upgrade share between the head and the
 * dyno: the route's own refusals, the affinity key, what a failed connect does to
 * the dyno, whether another dyno may be tried, and which H-code ends the attempt.
 * Both paths call these, so the same failure gets the same answer on either.
 */
import { AffinityKind, cookieValue } from './balancer/affinity.ts';
import type { ErrorCode } from './errors.ts';
import type { AppRoute } from './table/route-table.ts';
import type { Backend } from './upstream/backend.ts';
import type { ProxyContext } from './proxy.ts';

/** H80 (maintenance) or H14 (no web dynos) before any dyno is chosen, else null. */
export function routeRefusal(route: AppRoute): ErrorCode | null {
  if (route.maintenance) return 'H80';
  if (route.backends.length === 0) return 'H14';
  return null;
}

/** The key that pins a client to a dyno: null for random balancing. */
export function affinityKey(route: AppRoute, req: { getHeader(name: string): string }, clientIp: string): string | null {
  switch (route.affinity.kind) {
    case AffinityKind.Random:
      return null;
    case AffinityKind.Cookie:
      return cookieValue(req.getHeader('cookie'), route.affinity.name) || clientIp;
    case AffinityKind.Header:
      return req.getHeader(route.affinity.name) || clientIp;
    default:
      return clientIp;
  }
}

/** Connect errors that mean "this dyno cannot take requests now": quarantine it and try another. */
const UNREACHABLE: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
export const isUnreachable = (code: string): boolean => UNREACHABLE.has(code);

/** A failed connect: the dyno is quarantined and the failure counted. */
export function bookConnectFailure(ctx: ProxyContext, b: Backend): void {
  b.connectErrors++;
  b.quarantine(ctx.opts.quarantineMs);
  ctx.metrics.connectErrors++;
}

/** Whether another dyno may be tried after `tries` attempts (counted as a retry when so). */
export function mayRetry(ctx: ProxyContext, route: AppRoute, tries: number): boolean {
  const again = tries < ctx.opts.maxTries && tries < route.backends.length;
  if (again) ctx.metrics.retries++;
  return again;
}

/** No dyno took it: H10 when every dyno of the app is down, H19 when the last connect timed out, else H21. */
export function exhaustedCode(route: AppRoute, lastError: string, now: number): ErrorCode {
  if (route.backends.every((b) => b.isQuarantined(now))) return 'H10';
  return lastError === 'ETIMEDOUT' ? 'H19' : 'H21';
}
