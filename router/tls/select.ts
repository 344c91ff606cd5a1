/**
 * Which certificate each server name gets. A certificate is served only for
 * hosts that route to its own app (its custom domains and `<app>.<base-domain>`),
 * so an app cannot put its certificate in front of another app's domain; a
 * wildcard certificate is served for each of its app's hosts it covers.
 *
 * Several certificates may cover one host (a manual one and an ACM one, an old
 * and a renewed one): the host gets the one valid now with the latest expiry;
 * when none is valid, the one that expired last (a client then sees "expired",
 * which says what is wrong, rather than a failed handshake that does not).
 */
import type { TlsMaterial } from '../table/delta.ts';

/** host -> certificate, from the certificates, the custom domains (host -> app) and the base domain. */
export function certsByName(certs: Iterable<TlsMaterial>, domains: ReadonlyMap<string, string>, baseDomain: string, now = Date.now()): Map<string, TlsMaterial> {
  const hostsOf = new Map<string, string[]>();
  for (const [host, app] of domains) {
    const l = hostsOf.get(app);
    if (l) l.push(host);
    else hostsOf.set(app, [host]);
  }
  const out = new Map<string, TlsMaterial>();
  for (const c of certs) {
    for (const host of [`${c.app}.${baseDomain}`, ...(hostsOf.get(c.app) ?? [])]) {
      if (!covers(c.domains, host)) continue;
      const had = out.get(host);
      if (had === undefined || better(c, had, now)) out.set(host, c);
    }
  }
  return out;
}

/** RFC 6125: `*.example.com` covers exactly one more label on the left. */
export function covers(names: readonly string[], host: string): boolean {
  for (const n of names) {
    if (n === host) return true;
    if (n.startsWith('*.')) {
      const dot = host.indexOf('.');
      if (dot > 0 && host.slice(dot + 1) === n.slice(2)) return true;
    }
  }
  return false;
}

function better(a: TlsMaterial, b: TlsMaterial, now: number): boolean {
  const av = a.notAfter > now;
  const bv = b.notAfter > now;
  if (av !== bv) return av;
  if (a.notAfter !== b.notAfter) return a.notAfter > b.notAfter;
  return a.updatedAt > b.updatedAt;
}
