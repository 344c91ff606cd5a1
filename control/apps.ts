/**
 * Apps: create (with v1 "Initial release", empty config and formation, and the
 * routing record the router needs), destroy (every key of the app in one
 * transaction, so nothing routable remains), maintenance mode.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Cluster, Op } from '../cluster/client.ts';
import { retryTxn } from '../cluster/retry-txn.ts';
import { isAppName } from '../cluster/keys.ts';
import { API_APP } from './api-route.ts';
import type { App, Release, RoutingApp } from '../cluster/records.ts';
import { seal } from '../cluster/sealed.ts';
import { appNotFound, conflict, invalid } from './errors.ts';
import type { ReleaseContext } from './releases.ts';

const ADJECTIVES = ['quiet', 'brave', 'sunny', 'lucky', 'rapid', 'gentle', 'bold', 'calm', 'fresh', 'vivid', 'shiny', 'polar'];
const NOUNS = ['river', 'meadow', 'harbor', 'summit', 'forest', 'canyon', 'island', 'garden', 'falcon', 'comet', 'glacier', 'prairie'];

/** A Heroku-style random name such as `sunny-harbor-4821`. */
export function randomAppName(): string {
  const b = randomBytes(4);
  return `${ADJECTIVES[b[0]! % ADJECTIVES.length]}-${NOUNS[b[1]! % NOUNS.length]}-${1000 + (b.readUInt16BE(2) % 9000)}`;
}

export const DEFAULT_ROUTING: Omit<RoutingApp, 'app'> = { affinity: 'ip', balanceFactor: 1.25, maintenance: false };

/**
 * A new app, `owner` (the creating account's email) owning it (see access/members.ts):
 *
 *   keys:    apps/{app}, releases/{app}/1, current/{app}, config/{app}, formation/{app}, routing/apps/{app}
 *   compare: apps/{app} does not exist
 *   result:  the app with v1 "Initial release"; a taken random name is drawn again, a taken
 *            explicit name is refused (409).
 */
export async function createApp(ctx: ReleaseContext, name: string | undefined, owner: string): Promise<{ app: App; release: Release }> {
  const { cluster } = ctx;
  const k = cluster.keys;
  const explicit = name !== undefined;
  const made = await retryTxn(cluster, 'could not find a free random app name; pass a name', async (attempt) => {
    if (explicit && attempt > 0) throw conflict(`the name ${name} is already taken; pick another`);
    const n = name ?? randomAppName();
    if (!isAppName(n)) {
      throw invalid(`app name ${JSON.stringify(n)} is invalid: start with a lowercase letter, then up to 29 lowercase letters, digits or dashes`);
    }
    if (n === API_APP) throw invalid(`app name ${n} is reserved for the Platform API's own route (control/api-route.ts); pick another`);
    const now = Date.now();
    const app: App = { name: n, id: randomUUID(), createdAt: now, owner, ownerIsUser: true, stack: 'dynomesh-1', buildpacks: [] };
    const sealed = seal(ctx.clusterKey, {});
    const release: Release = {
      app: n, version: 1, id: randomUUID(), slug: null, processTypes: {}, config: sealed,
      description: 'Initial release', author: owner, createdAt: now,
    };
    const ops: Op[] = [
      { put: k.app(n), value: cluster.value(k.app(n), app) },
      { put: k.release(n, 1), value: cluster.value(k.release(n, 1), release) },
      { put: k.current(n), value: cluster.value(k.current(n), { version: 1 }) },
      { put: k.config(n), value: cluster.value(k.config(n), { sealed }) },
      { put: k.formation(n), value: cluster.value(k.formation(n), { types: {} }) },
      { put: k.routingApp(n), value: cluster.value(k.routingApp(n), { app: n, ...DEFAULT_ROUTING }) },
    ];
    return { compares: [{ key: k.app(n), target: 'create', op: '==', value: 0 }], ops, result: { app, release } };
  });
  ctx.events?.release(made.release); // "Initial release by ...", "Release v1 created by ..."
  return made;
}

/**
 * Deletes every key of the app: app record, releases, current, config, formation,
 * routing record, endpoints, statuses, builds, add-ons, its custom domains and its
 * placements (dyno-nodes stop those dynos). Returns the slug ids its releases used.
 *
 *   keys:    apps/{app}, routing/apps/{app}, current, config, formation, cron, acm, the app's
 *            prefixes, then its endpoints, statuses, placements and domains (the rest in
 *            further txns of 100 ops)
 *   compare: apps/{app}'s create revision is what we read (not recreated meanwhile)
 *   result:  the app is gone and unroutable after the first txn; 404 when it already was
 */
export async function destroyApp(cluster: Cluster, name: string): Promise<{ slugs: string[] }> {
  const k = cluster.keys;
  const appEntry = await cluster.get(k.app(name));
  if (!appEntry) throw appNotFound(name);
  const [releases, placements, domains, endpoints, statuses] = await Promise.all([
    cluster.list(k.releases(name)),
    cluster.list(k.placements()),
    cluster.list(k.domains()),
    cluster.list(k.endpoints()),
    cluster.list(k.statuses()),
  ]);
  const slugs = new Set<string>();
  for (const e of releases.entries) if (e.kind === 'release' && e.value.slug) slugs.add(e.value.slug.sha256);
  // Endpoints and statuses are keyed by node (their nodes would remove them as the dynos stop).
  const ofApp = (e: { kind: string; ref: unknown }) => (e.kind === 'endpoint' || e.kind === 'status') && (e.ref as { app: string }).app === name;
  const extra: Op[] = [
    ...endpoints.entries.filter(ofApp).map((e) => ({ del: e.key })),
    ...statuses.entries.filter(ofApp).map((e) => ({ del: e.key })),
    ...placements.entries.filter((e) => e.kind === 'placement' && e.value.app === name).map((e) => ({ del: e.key })),
    ...domains.entries.filter((e) => e.kind === 'domain' && e.value.app === name).map((e) => ({ del: e.key })),
  ];
  const ops: Op[] = [
    { del: k.app(name) },
    { del: k.routingApp(name) },
    { del: k.current(name) },
    { del: k.config(name) },
    { del: k.formation(name) },
    { del: k.cron(name) },
    { del: k.acm(name) },
    ...k.appPrefixes(name).map((p) => ({ del: p, prefix: true })),
  ];
  // etcd caps a txn at 128 ops: the first txn makes the app gone and unroutable; the rest is cleanup.
  const first = extra.splice(0, Math.max(0, 100 - ops.length));
  const r = await cluster.txn([{ key: k.app(name), target: 'create', op: '==', value: appEntry.createRevision }], [...ops, ...first]);
  if (!r.succeeded) throw appNotFound(name);
  while (extra.length) await cluster.txn([], extra.splice(0, 100));
  return { slugs: [...slugs] };
}

/** Maintenance mode: the router answers 503 (H80) for the app while it is on. */
export function setMaintenance(cluster: Cluster, name: string, on: boolean): Promise<RoutingApp> {
  return updateRouting(cluster, name, { maintenance: on });
}

/** Parses `routing: {affinity, balance_factor}` of PATCH /apps/:app; 422 with what is accepted. */
export function parseRouting(raw: unknown): Partial<Pick<RoutingApp, 'affinity' | 'balanceFactor'>> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('"routing" must be an object such as {"affinity": "cookie:session", "balance_factor": 1.25}');
  const r = raw as Record<string, unknown>;
  const out: Partial<Pick<RoutingApp, 'affinity' | 'balanceFactor'>> = {};
  if (r.affinity !== undefined) {
    const a = r.affinity;
    if (typeof a !== 'string' || !/^(ip|random|cookie:[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}|header:[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128})$/.test(a)) {
      throw invalid('"affinity" must be ip, random, cookie:<cookie name> or header:<header name>');
    }
    out.affinity = a as RoutingApp['affinity'];
  }
  if (r.balance_factor !== undefined) {
    const c = r.balance_factor;
    if (typeof c !== 'number' || !Number.isFinite(c) || c <= 1 || c > 10) throw invalid('"balance_factor" must be a number above 1 and at most 10 (default 1.25)');
    out.balanceFactor = c;
  }
  return out;
}

/**
 * Changes the app's routing record (what routers read):
 *
 *   keys:    routing/apps/{app}; apps/{app} compare only
 *   compare: the app's create revision and the routing record's mod revision are what we read
 *   result:  the routing record with `patch` applied
 */
export async function updateRouting(cluster: Cluster, name: string, patch: Partial<Omit<RoutingApp, 'app'>>): Promise<RoutingApp> {
  const k = cluster.keys;
  return retryTxn(cluster, `${name}'s routing kept changing; try again`, async () => {
    const [a, r] = await Promise.all([cluster.get(k.app(name)), cluster.get(k.routingApp(name))]);
    if (!a) throw appNotFound(name);
    const next: RoutingApp = { ...(r?.value ?? { app: name, ...DEFAULT_ROUTING }), ...patch };
    return {
      compares: [
        { key: k.app(name), target: 'create', op: '==', value: a.createRevision },
        { key: k.routingApp(name), target: 'mod', op: '==', value: r?.modRevision ?? 0 },
      ],
      ops: [{ put: k.routingApp(name), value: cluster.value(k.routingApp(name), next) }],
      result: next,
    };
  });
}
