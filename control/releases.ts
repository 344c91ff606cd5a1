/**
 * Releases: every change to what an app runs (deploy, config change, rollback)
 * appends release v(N+1) in ONE etcd transaction together with the `current`
 * pointer and, when they change, the latest config vars and the formation:
 *
 *   keys:    apps/{app} (compare only), current/{app}, releases/{app}/{N+1}, config/{app}, formation/{app}
 *   compare: app's create revision unchanged (not destroyed/recreated), current/config/formation
 *            mod revisions are what we read, release N+1 does not exist
 *   result:  the new release; on a lost race the whole read-modify-write is redone,
 *            so concurrent writers get consecutive versions and each release's config
 *            is exactly the config it was computed from.
 *
 * `deployRelease` is what a build calls once its slug is in the store.
 */
import { randomUUID } from 'node:crypto';
import type { Cluster, Compare, EntryOf, Op } from '../cluster/client.ts';
import { seal, unseal } from '../cluster/sealed.ts';
import type { Formation, Release, Slug } from '../cluster/records.ts';
import { appNotFound, ControlError, invalid } from './errors.ts';
import { checkConfigPatch, describeConfigChange } from './config-vars.ts';
import type { AppEvents } from './logs/events.ts';

export interface ReleaseContext {
  cluster: Cluster;
  clusterKey: Buffer;
  /** `app[api]` lines in the app's log stream (control/logs); absent in tools that run without one. */
  events?: AppEvents;
}

/** What a release change sees: the app as stored now. */
export interface ReleaseInputs {
  app: EntryOf<'app'>;
  current: Release | undefined;
  /** Sealed latest config vars (empty map when none were ever set). */
  sealedConfig: Uint8Array;
  formation: Formation;
}

export interface ReleaseChange {
  description: string;
  slug: Slug | null;
  processTypes: Record<string, string>;
  /** Sealed config for the release; also becomes the latest config when `configChanged`. */
  config: Uint8Array;
  configChanged: boolean;
  /** A new formation to store in the same transaction (new process types on deploy). */
  formation?: Formation;
  /** More writes and conditions for the same transaction (add-on records on attach/detach). */
  ops?: Op[];
  compares?: Compare[];
}

const ATTEMPTS = 100;
const appLocks = new Map<string, Promise<unknown>>();

/** Runs `fn` after the previous release write of this app in this process (fewer lost races; etcd still decides). */
function serialized<T>(app: string, fn: () => Promise<T>): Promise<T> {
  const prev = appLocks.get(app) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(fn);
  appLocks.set(app, next);
  void next.finally(() => {
    if (appLocks.get(app) === next) appLocks.delete(app);
  }).catch(() => undefined);
  return next;
}

export function appendRelease(
  ctx: ReleaseContext,
  app: string,
  author: string,
  make: (inputs: ReleaseInputs) => ReleaseChange | null,
): Promise<Release | null> {
  return serialized(app, async () => {
    const { cluster } = ctx;
    const k = cluster.keys;
    for (let attempt = 0; ; attempt++) {
      const [appEntry, cur, cfg, form] = await Promise.all([
        cluster.get(k.app(app)),
        cluster.get(k.current(app)),
        cluster.get(k.config(app)),
        cluster.get(k.formation(app)),
      ]);
      if (!appEntry) throw appNotFound(app);
      const current = cur ? (await cluster.get(k.release(app, cur.value.version)))?.value : undefined;
      const inputs: ReleaseInputs = {
        app: appEntry,
        current,
        sealedConfig: cfg?.value.sealed ?? seal(ctx.clusterKey, {}),
        formation: form?.value ?? { types: {} },
      };
      const change = make(inputs);
      if (!change) return null;
      const version = (cur?.value.version ?? 0) + 1;
      const release: Release = {
        app,
        version,
        id: randomUUID(),
        slug: change.slug,
        processTypes: change.processTypes,
        config: change.config,
        description: change.description,
        author,
        createdAt: Date.now(),
      };
      const compares: Compare[] = [
        { key: k.app(app), target: 'create', op: '==', value: appEntry.createRevision },
        { key: k.current(app), target: 'mod', op: '==', value: cur?.modRevision ?? 0 },
        { key: k.release(app, version), target: 'create', op: '==', value: 0 },
        { key: k.config(app), target: 'mod', op: '==', value: cfg?.modRevision ?? 0 },
        { key: k.formation(app), target: 'mod', op: '==', value: form?.modRevision ?? 0 },
      ];
      const ops: Op[] = [
        { put: k.release(app, version), value: cluster.value(k.release(app, version), release) },
        { put: k.current(app), value: cluster.value(k.current(app), { version }) },
      ];
      if (change.configChanged) ops.push({ put: k.config(app), value: cluster.value(k.config(app), { sealed: change.config }) });
      if (change.formation) ops.push({ put: k.formation(app), value: cluster.value(k.formation(app), change.formation) });
      if (change.ops) ops.push(...change.ops);
      if (change.compares) compares.push(...change.compares);
      const r = await cluster.txn(compares, ops);
      if (r.succeeded) {
        ctx.events?.release(release);
        return release;
      }
      if (attempt + 1 >= ATTEMPTS) throw new ControlError(409, 'conflict', `too many concurrent changes to ${app}; try again`);
      await new Promise((res) => setTimeout(res, Math.random() * Math.min(100, 5 * 2 ** Math.min(attempt, 5))));
    }
  });
}

export interface Deploy {
  slug: Slug;
  processTypes: Record<string, string>;
  /** Defaults to `Deploy <first 7 of the slug's sha256>`; builds pass `Deploy <short commit>`. */
  description?: string;
  author: string;
}

/**
 * A new release running `slug` with the app's latest config vars. Process types
 * the formation has never seen are added to it: `web` at 1 dyno (Heroku scales web
 * on the first deploy), others at 0.
 */
export async function deployRelease(ctx: ReleaseContext, app: string, deploy: Deploy): Promise<Release> {
  for (const type of Object.keys(deploy.processTypes)) {
    if (!/^[a-z][a-z0-9_]*$/.test(type)) throw invalid(`process type "${type}" is not valid: use lowercase letters, digits and _`);
  }
  const r = await appendRelease(ctx, app, deploy.author, (s) => {
    const types = { ...s.formation.types };
    let added = false;
    for (const type of Object.keys(deploy.processTypes)) {
      if (types[type]) continue;
      types[type] = { quantity: type === 'web' ? 1 : 0, size: 'standard-1x' };
      added = true;
    }
    return {
      description: deploy.description ?? `Deploy ${deploy.slug.sha256.slice(0, 7)}`,
      slug: deploy.slug,
      processTypes: deploy.processTypes,
      config: s.sealedConfig,
      configChanged: false,
      ...(added ? { formation: { types } } : {}),
    };
  });
  return r!;
}

/**
 * Applies a config patch (`null` deletes) and releases it. Returns the new config and
 * the release, or no release when the patch changes nothing (deleting absent keys).
 */
export async function setConfigVars(
  ctx: ReleaseContext,
  app: string,
  patch: Record<string, string | null>,
  author: string,
): Promise<{ config: Record<string, string>; release: Release | null }> {
  checkConfigPatch(patch);
  let result: Record<string, string> = {};
  const release = await appendRelease(ctx, app, author, (s) => {
    const before = unseal(ctx.clusterKey, s.sealedConfig);
    const after = { ...before };
    const set: string[] = [];
    const removed: string[] = [];
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) {
        if (key in after) {
          delete after[key];
          removed.push(key);
        }
      } else {
        after[key] = value;
        set.push(key);
      }
    }
    result = after;
    if (set.length === 0 && removed.length === 0) return null;
    const size = Object.entries(after).reduce((n, [key, v]) => n + Buffer.byteLength(key) + Buffer.byteLength(v), 0);
    if (size > CONFIG_LIMIT) {
      throw invalid(`config vars would total ${size} bytes; the limit is ${CONFIG_LIMIT} (32 KB). Store large values elsewhere.`);
    }
    const sealed = seal(ctx.clusterKey, after);
    return {
      description: describeConfigChange(set, removed),
      slug: s.current?.slug ?? null,
      processTypes: s.current?.processTypes ?? {},
      config: sealed,
      configChanged: true,
    };
  });
  return { config: result, release };
}

export const CONFIG_LIMIT = 32 * 1024;

/** Finds a release by version (`3`, `"v3"`) or id. */
export async function findRelease(cluster: Cluster, app: string, ref: string | number): Promise<Release | undefined> {
  const s = String(ref).trim();
  const m = /^v?(\d+)$/.exec(s);
  if (m) {
    const v = Number(m[1]);
    if (!Number.isSafeInteger(v) || v < 1) return undefined;
    return (await cluster.get(cluster.keys.release(app, v)))?.value;
  }
  const all = await cluster.list(cluster.keys.releases(app));
  return all.entries.find((e) => e.kind === 'release' && e.value.id === s)?.value as Release | undefined;
}

/** A new release copying vN's slug, process types and config vars (the config vars become the latest too). */
export async function rollback(ctx: ReleaseContext, app: string, ref: string | number, author: string): Promise<Release> {
  if (!(await ctx.cluster.get(ctx.cluster.keys.app(app)))) throw appNotFound(app);
  const target = await findRelease(ctx.cluster, app, ref);
  if (!target) throw invalid(`release ${JSON.stringify(ref)} of ${app} does not exist; list them with \`dynomesh releases -a ${app}\``);
  const r = await appendRelease(ctx, app, author, (s) => {
    const types = { ...s.formation.types };
    let added = false;
    for (const type of Object.keys(target.processTypes)) {
      if (!types[type]) {
        types[type] = { quantity: 0, size: 'standard-1x' };
        added = true;
      }
    }
    return {
      description: `Rollback to v${target.version}`,
      slug: target.slug,
      processTypes: target.processTypes,
      config: target.config,
      configChanged: true,
      ...(added ? { formation: { types } } : {}),
    };
  });
  return r!;
}
