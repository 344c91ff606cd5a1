/**
 * Compact route-table changes: what the etcd watch turns each routing key change
 * into. Plain data (msgpackr-friendly), so one thread can own the watch and send
 * the same deltas to worker threads that each build their own table.
 */
import type { Change } from '../../cluster/watch.ts';
import type { Cert, RoutingApp } from '../../cluster/records.ts';

export interface EndpointAddr {
  host: string;
  port: number;
  node: string;
  release: number;
}

/** A certificate the TLS listener serves, its key already opened (router/tls/). */
export interface TlsMaterial {
  app: string;
  name: string;
  domains: string[];
  chain: string;
  /** PEM private key, in memory only. */
  key: string;
  notAfter: number;
  updatedAt: number;
}

export type Delta =
  | { t: 'app'; app: string; v: Pick<RoutingApp, 'affinity' | 'balanceFactor' | 'maintenance' | 'httpsRedirect' | 'hsts'> | null }
  | { t: 'domain'; host: string; v: string | null }
  /** `node`: whose key went (deletes only): a node's delete never removes another node's endpoint of the same dyno. */
  | { t: 'ep'; app: string; dyno: string; node?: string; v: EndpointAddr | null }
  | { t: 'cert'; app: string; name: string; v: TlsMaterial | null }
  | { t: 'acme'; token: string; v: string | null };

/**
 * Opens a certificate's sealed private key (the cluster key's job); null when it
 * cannot (no key configured, wrong key): the certificate is then left out.
 */
export type KeyOpener = (cert: Cert) => string | null;

/** Routing deltas from a batch of watch changes; other keys are ignored. */
export function deltasFrom(changes: readonly Change[], openKey?: KeyOpener): Delta[] {
  const out: Delta[] = [];
  for (const c of changes) {
    if (c.type === 'put') {
      const e = c.entry;
      if (e.kind === 'routingApp') {
        const v = e.value;
        out.push({ t: 'app', app: e.ref.app, v: { affinity: v.affinity, balanceFactor: v.balanceFactor, maintenance: v.maintenance, httpsRedirect: v.httpsRedirect === true, hsts: v.hsts === true } });
      } else if (e.kind === 'domain') {
        out.push({ t: 'domain', host: e.ref.host, v: e.value.app });
      } else if (e.kind === 'endpoint') {
        const v = e.value;
        out.push({ t: 'ep', app: e.ref.app, dyno: e.ref.dyno, v: { host: v.host, port: v.port, node: v.node, release: v.release } });
      } else if (e.kind === 'cert') {
        const v = e.value;
        const key = openKey?.(v) ?? null;
        // a key that does not open is as good as no certificate (the opener says why)
        out.push({ t: 'cert', app: e.ref.app, name: e.ref.name, v: key === null ? null : { app: v.app, name: v.name, domains: v.domains, chain: v.chain, key, notAfter: v.notAfter, updatedAt: v.updatedAt } });
      } else if (e.kind === 'acmeChallenge') {
        out.push({ t: 'acme', token: e.ref.token, v: e.value.keyAuthorization });
      }
    } else {
      const r = c.ref;
      if (!r) continue;
      if (r.kind === 'routingApp') out.push({ t: 'app', app: r.app, v: null });
      else if (r.kind === 'domain') out.push({ t: 'domain', host: r.host, v: null });
      else if (r.kind === 'endpoint') out.push({ t: 'ep', app: r.app, dyno: r.dyno, node: r.node, v: null });
      else if (r.kind === 'cert') out.push({ t: 'cert', app: r.app, name: r.name, v: null });
      else if (r.kind === 'acmeChallenge') out.push({ t: 'acme', token: r.token, v: null });
    }
  }
  return out;
}
