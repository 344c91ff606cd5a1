/**
 * An immutable snapshot of everything the request path needs: hostname -> app
 * -> web backends with their ring. The builder makes a new one per batch of
 * etcd changes and the router swaps a single reference, so a request sees
 * either the old table or the new one, never half an update. Both maps are
 * copy-on-write per bucket (cow-map.ts): a new table shares all untouched apps.
 */
import type { Backend } from '../upstream/backend.ts';
import type { Ring } from '../balancer/ring.ts';
import type { AffinityRule } from '../balancer/affinity.ts';
import { CowMap } from './cow-map.ts';

export interface AppRoute {
  name: string;
  maintenance: boolean;
  /** Plain HTTP requests are redirected to https (`features:enable http-redirect`). */
  httpsRedirect: boolean;
  /** HTTPS responses carry Strict-Transport-Security (`features:enable hsts`). */
  hsts: boolean;
  affinity: AffinityRule;
  /** Bounded-loads factor c (>= 1). */
  balanceFactor: number;
  /** Web backends sorted by dyno name; slot i in the ring is backends[i]. */
  backends: Backend[];
  /** Null when there are no backends. */
  ring: Ring | null;
}

const NO_CHALLENGES: ReadonlyMap<string, string> = new Map();

export class RouteTable {
  constructor(
    /** Exact hostnames (lowercase, no port) -> app name. */
    readonly domains: CowMap<string>,
    /** Routable apps (those with a routing/apps record). */
    readonly apps: CowMap<AppRoute>,
    /** `.<base-domain>`: `<app>.<base-domain>` routes to app without a domain record. */
    private readonly baseSuffix: string,
    /** etcd revision this table reflects. */
    readonly revision: number,
    readonly builtAt: number,
    /** ACME HTTP-01 answers: token -> key authorization (routing/acme/, served before any app). */
    readonly challenges: ReadonlyMap<string, string> = NO_CHALLENGES,
  ) {}

  static empty(baseDomain: string): RouteTable {
    return new RouteTable(CowMap.empty(), CowMap.empty(), '.' + baseDomain, 0, Date.now());
  }

  private endpoints = -1;

  /** Web endpoints in the table (counted once per table: the table never changes). */
  get endpointCount(): number {
    if (this.endpoints >= 0) return this.endpoints;
    let n = 0;
    for (const a of this.apps.values()) n += a.backends.length;
    return (this.endpoints = n);
  }

  /** The app for a Host header value (any case, optional :port), or undefined. */
  lookup(hostHeader: string): AppRoute | undefined {
    let host = hostHeader;
    const colon = host.lastIndexOf(':');
    if (colon > 0 && host.charCodeAt(host.length - 1) !== 93 /* ] */) host = host.slice(0, colon);
    host = host.toLowerCase();
    if (host.charCodeAt(host.length - 1) === 46 /* . */) host = host.slice(0, -1);
    const app = this.domains.get(host);
    if (app !== undefined) return this.apps.get(app);
    const s = this.baseSuffix;
    if (host.length > s.length && host.endsWith(s)) {
      const name = host.slice(0, host.length - s.length);
      if (name.indexOf('.') < 0) return this.apps.get(name);
    }
    return undefined;
  }
}
