/**
 * Applies deltas to the routing state and builds new immutable tables off the
 * hot path. Only apps touched by a batch are rebuilt; their ring is rebuilt only
 * when the set of dyno names changed. Backend objects (pools, in-flight counts,
 * quarantine) are kept across tables while their endpoint record is unchanged.
 */
import { parseAffinity } from '../balancer/affinity.ts';
import { Ring } from '../balancer/ring.ts';
import { Backend, DEFAULT_POOL, type PoolOptions } from '../upstream/backend.ts';
import type { Delta, EndpointAddr, TlsMaterial } from './delta.ts';
import { RouteTable, type AppRoute } from './route-table.ts';
import { certsByName } from '../tls/select.ts';

export interface BuilderOptions {
  baseDomain: string;
  /** Used when an app's record has no valid factor. */
  defaultBalanceFactor: number;
  pool?: PoolOptions;
}

type AppSettings = Extract<Delta, { t: 'app' }>['v'] & object;

export class TableBuilder {
  private readonly settings = new Map<string, AppSettings>();
  private readonly domains = new Map<string, string>();
  /** app -> its backends, kept sorted by dyno name (an array, not a Map: 10,000 small Maps cost ~6 MB more) */
  private readonly endpoints = new Map<string, Backend[]>();
  private readonly dirty = new Set<string>();
  private readonly dirtyDomains = new Set<string>();
  /** `app/name` -> certificate (keys opened), for the TLS listener; not part of the table. */
  private readonly tls = new Map<string, TlsMaterial>();
  /** Bumped on every certificate change: the TLS listener reloads when it moves. */
  certsVersion = 0;
  /** Every routed host gets a certificate (a development CA mints the missing ones): host changes bump certsVersion too. */
  everyHost = false;
  private readonly challenges = new Map<string, string>();
  private challengesDirty = false;
  private current: RouteTable;
  /** Dyno and node names repeat across apps (web.1..web.N, a few hosts). */
  private readonly names = new Interner(10_000);

  constructor(private readonly opts: BuilderOptions) {
    this.current = RouteTable.empty(opts.baseDomain);
  }

  get table(): RouteTable {
    return this.current;
  }

  apply(deltas: readonly Delta[]): void {
    for (const d of deltas) {
      if (d.t === 'app') {
        // an app that appears or goes changes which hosts its certificates are served for
        if (this.settings.has(d.app) !== (d.v !== null) && (this.tls.size > 0 || this.everyHost)) this.certsVersion++;
        if (d.v) this.settings.set(d.app, d.v);
        else this.settings.delete(d.app);
        this.dirty.add(d.app);
      } else if (d.t === 'domain') {
        if ((this.tls.size > 0 || this.everyHost) && this.domains.get(d.host) !== (d.v ?? undefined)) this.certsVersion++;
        if (d.v) this.domains.set(d.host, d.v);
        else this.domains.delete(d.host);
        this.dirtyDomains.add(d.host);
      } else if (d.t === 'ep') {
        this.setEndpoint(d.app, d.dyno, d.v, d.node);
        this.dirty.add(d.app);
      } else if (d.t === 'cert') {
        const id = d.app + '/' + d.name;
        if (d.v) this.tls.set(id, d.v);
        else if (!this.tls.delete(id)) continue;
        this.certsVersion++;
      } else {
        if (d.v) this.challenges.set(d.token, d.v);
        else this.challenges.delete(d.token);
        this.challengesDirty = true;
      }
    }
  }

  /**
   * Endpoints are keyed by node, so while a dyno moves two nodes may hold the same
   * name: the latest write serves, and the old node's delete (`node`) leaves the new one.
   */
  private setEndpoint(app: string, dyno: string, v: EndpointAddr | null, node?: string): void {
    const eps = this.endpoints.get(app);
    const i = eps ? eps.findIndex((b) => b.dyno === dyno) : -1;
    const old = i >= 0 ? eps![i]! : undefined;
    if (!v && old && node !== undefined && old.node !== node) return;
    if (v && old && old.host === v.host && old.port === v.port && old.release === v.release) return;
    old?.retire();
    if (!v) {
      if (i < 0) return;
      eps!.splice(i, 1);
      if (eps!.length === 0) this.endpoints.delete(app);
      return;
    }
    // Each decoded record brings its own copies of the app, dyno and node names: at 100,000 endpoints
    // sharing one string per name saves ~8 MB (the app's name from a sibling backend, the rest interned).
    const b = new Backend(eps?.[0]?.app ?? app, this.names.of(dyno), v.host, v.port, v.release, this.opts.pool ?? DEFAULT_POOL, this.names.of(v.node));
    if (!eps) this.endpoints.set(app, [b]);
    else if (old) eps[i] = b;
    else {
      const at = eps.findIndex((e) => byDyno(dyno, e.dyno) < 0);
      eps.splice(at < 0 ? eps.length : at, 0, b);
    }
  }

  /**
   * A new table if anything changed since the last build, else the current one.
   * Only the apps and hosts touched since the last build are rebuilt; the new
   * table shares everything else with the previous one (copy-on-write buckets).
   */
  build(revision: number): RouteTable {
    if (this.dirty.size === 0 && this.dirtyDomains.size === 0 && !this.challengesDirty && revision === this.current.revision) return this.current;
    const cur = this.current;
    const apps = this.dirty.size === 0 ? cur.apps : cur.apps.with([...this.dirty].map((app) => [app, this.rebuildApp(app, cur.apps.get(app))] as [string, AppRoute | undefined]));
    this.dirty.clear();
    const domains = this.dirtyDomains.size === 0 ? cur.domains : cur.domains.with([...this.dirtyDomains].map((h) => [h, this.domains.get(h)] as [string, string | undefined]));
    this.dirtyDomains.clear();
    const challenges = this.challengesDirty ? new Map(this.challenges) : cur.challenges;
    this.challengesDirty = false;
    this.current = new RouteTable(domains, apps, '.' + this.opts.baseDomain, revision, Date.now(), challenges);
    return this.current;
  }

  /** Every host that routes to an app: `<app>.<base-domain>` and the custom domains. */
  routedHosts(): string[] {
    const out = [...this.settings.keys()].map((a) => `${a}.${this.opts.baseDomain}`);
    for (const [host, app] of this.domains) if (this.settings.has(app)) out.push(host);
    return out;
  }

  /** Server name -> the certificate the TLS listener serves for it (router/tls/select.ts). */
  servedCerts(now = Date.now()): Map<string, TlsMaterial> {
    const routed = new Map<string, string>();
    for (const [host, app] of this.domains) if (this.settings.has(app)) routed.set(host, app);
    const certs = [...this.tls.values()].filter((c) => this.settings.has(c.app));
    return certsByName(certs, routed, this.opts.baseDomain, now);
  }

  private rebuildApp(app: string, prev: AppRoute | undefined): AppRoute | undefined {
    const s = this.settings.get(app);
    if (!s) return undefined;
    const backends = this.endpoints.get(app)?.slice() ?? [];
    const names = backends.map((b) => b.dyno);
    const sameNames = prev?.ring != null && prev.ring.names.length === names.length && prev.ring.names.every((n, i) => n === names[i]);
    const factor = Number.isFinite(s.balanceFactor) && s.balanceFactor >= 1 ? s.balanceFactor : this.opts.defaultBalanceFactor;
    return {
      name: app,
      maintenance: s.maintenance === true,
      httpsRedirect: s.httpsRedirect === true,
      hsts: s.hsts === true,
      affinity: parseAffinity(s.affinity),
      balanceFactor: factor,
      backends,
      // rings depend on dyno names only, so apps with the same names share one (web.1..web.N is the common case)
      ring: names.length === 0 ? null : sameNames ? prev!.ring : Ring.of(names),
    };
  }

  /** Deltas that rebuild the current state from nothing (a new worker thread starts from these). */
  snapshot(): Delta[] {
    const out: Delta[] = [];
    for (const [app, v] of this.settings) out.push({ t: 'app', app, v });
    for (const [host, app] of this.domains) out.push({ t: 'domain', host, v: app });
    for (const c of this.tls.values()) out.push({ t: 'cert', app: c.app, name: c.name, v: c });
    for (const [token, v] of this.challenges) out.push({ t: 'acme', token, v });
    for (const [app, eps] of this.endpoints) {
      for (const b of eps) out.push({ t: 'ep', app, dyno: b.dyno, v: { host: b.host, port: b.port, node: b.node, release: b.release } });
    }
    return out;
  }

  /** Every backend in the table, for shutdown. */
  backends(): Backend[] {
    const out: Backend[] = [];
    for (const eps of this.endpoints.values()) out.push(...eps);
    return out;
  }
}

/** One shared copy of each string; forgets everything past `max` distinct strings, so odd names cannot grow it forever. */
class Interner {
  private readonly seen = new Map<string, string>();
  constructor(private readonly max: number) {}

  of(s: string): string {
    const had = this.seen.get(s);
    if (had !== undefined) return had;
    if (this.seen.size >= this.max) this.seen.clear();
    this.seen.set(s, s);
    return s;
  }
}

/** web.2 before web.10. */
function byDyno(a: string, b: string): number {
  const da = a.lastIndexOf('.');
  const db = b.lastIndexOf('.');
  const ta = a.slice(0, da);
  const tb = b.slice(0, db);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return Number(a.slice(da + 1)) - Number(b.slice(db + 1));
}
