/**
 * What a request is hashed on, per app (RoutingApp.affinity):
 *   ip             the client address (default)
 *   cookie:<name>  that cookie's value; header:<name>  that header's value
 *   random         no key: any dyno, bounded loads still apply
 * A request without the named cookie or header falls back to its client address,
 * so it still sticks to one dyno.
 */
import type { Affinity } from '../../cluster/records.ts';

export const enum AffinityKind {
  Ip = 0,
  Random = 1,
  Cookie = 2,
  Header = 3,
}

export interface AffinityRule {
  kind: AffinityKind;
  /** Lowercased header name, or the cookie name as written. */
  name: string;
}

export const IP_AFFINITY: AffinityRule = { kind: AffinityKind.Ip, name: '' };

export function parseAffinity(a: Affinity | string | undefined): AffinityRule {
  if (!a || a === 'ip') return IP_AFFINITY;
  if (a === 'random') return { kind: AffinityKind.Random, name: '' };
  if (a.startsWith('cookie:') && a.length > 7) return { kind: AffinityKind.Cookie, name: a.slice(7) };
  if (a.startsWith('header:') && a.length > 7) return { kind: AffinityKind.Header, name: a.slice(7).toLowerCase() };
  return IP_AFFINITY;
}

/** The value of cookie `name` in a Cookie header, or '' when absent. */
export function cookieValue(header: string, name: string): string {
  if (header === '') return '';
  let i = 0;
  while (i < header.length) {
    while (header.charCodeAt(i) === 32 || header.charCodeAt(i) === 59) i++;
    const eq = header.indexOf('=', i);
    if (eq < 0) return '';
    let end = header.indexOf(';', eq);
    if (end < 0) end = header.length;
    if (eq - i === name.length && header.startsWith(name, i)) return header.slice(eq + 1, end).trim();
    i = end + 1;
  }
  return '';
}
