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
 * Release phase: a release whose process types include `release` is written `pending`
 * and `current` does not move (it records the version as `pending` instead); the
 * runner (release-phase/) runs the command and `settleRelease` makes it current or
 * failed. While one is pending no other release is created (one release command at a
 * time per app, so two migrations never race); a pending release whose runner is gone
 * is failed by the next writer.
 *
 * `deployRelease` is what a build calls once its slug is in the store.
 */
import { randomUUID } from 'node:crypto';
import type { Cluster, Compare, EntryOf, Op } from '../cluster/client.ts';
import { retryTxn } from '../cluster/retry-txn.ts';
import { isProcessType } from '../cluster/names.ts';
import { seal, unseal } from '../cluster/sealed.ts';
import type { CronEntry, Current, Formation, HealthCheck, ProcessFormation, Release, ReleasePhaseInfo, Slug } from '../cluster/records.ts';
import { appNotFound, ControlError, invalid } from './errors.ts';
import { checkConfigPatch, describeConfigChange } from './config-vars.ts';
import type { AppEvents } from './logs/events.ts';

export interface ReleaseContext {
  cluster: Cluster;
  clusterKey: Buffer;
  /** `app[api]` lines in the app's log stream (control/logs); absent in tools that run without one. */
  events?: AppEvents;
  /** Runs release phases (release-phase/runner.ts); without one, a release with a `release` process type is refused. */
  releasePhase?: ReleasePhaseStarter;
}

/** What appendRelease needs of the release phase runner. */
export interface ReleasePhaseStarter {
  /** Member id recorded as the runner of the releases this instance starts. */
  readonly memberId: string;
  /** How long a release command may run; a pending release older than this (plus a margin) is failed. */
  readonly timeoutMs: number;
  /** Starts running release `rel`'s command in the background. */
  start(rel: Release): void;
  /** Live output of a release command running on this instance (everything so far first) and its outcome; undefined when none runs here. */
  follow(app: string, version: number, listener: (chunk: Buffer) => void): Promise<PhaseOutcome> | undefined;
}

/** The release is waiting on another one's release command. */
export class ReleasePendingError extends ControlError {
  constructor(readonly app: string, readonly version: number) {
    super(409, 'conflict', `release v${version} of ${app} is still running its release command; wait for it (\`dynomesh releases:output v${version} -a ${app}\`) and try again`);
  }
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
  /** False: no release phase even with a `release` process type (add-on-driven config changes, as Heroku). */
  releasePhase?: boolean;
  /** app.json's per-release parts (cron, web health check); undefined: the current release's, as config changes keep them. */
  manifest?: ReleaseManifest;
}

export interface ReleaseManifest {
  cron?: CronEntry[];
  healthcheck?: HealthCheck;
}

/** Whether a release with these process types runs a release phase. */
export const hasReleasePhase = (processTypes: Record<string, string>): boolean => typeof processTypes.release === 'string' && processTypes.release.trim() !== '';

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
    return retryTxn(cluster, `too many concurrent changes to ${app}; try again`, async () => {
      const [appEntry, first, cfg, form] = await Promise.all([
        cluster.get(k.app(app)),
        cluster.get(k.current(app)),
        cluster.get(k.config(app)),
        cluster.get(k.formation(app)),
      ]);
      if (!appEntry) throw appNotFound(app);
      let cur = first;
      // One release command at a time; one whose runner died or overran is failed here, then we go on.
      if (cur?.value.pending && (await failAbandoned(ctx, app, cur.value.pending))) cur = await cluster.get(k.current(app));
      if (cur?.value.pending) throw new ReleasePendingError(app, cur.value.pending);
      const current = cur ? (await cluster.get(k.release(app, cur.value.version)))?.value : undefined;
      const inputs: ReleaseInputs = {
        app: appEntry,
        current,
        sealedConfig: cfg?.value.sealed ?? seal(ctx.clusterKey, {}),
        formation: form?.value ?? { types: {} },
      };
      const change = make(inputs);
      if (!change) return { done: null };
      const version = (cur ? Math.max(cur.value.version, cur.value.latest ?? 0) : 0) + 1;
      const phased = change.releasePhase !== false && hasReleasePhase(change.processTypes);
      if (phased && !ctx.releasePhase) throw new ControlError(503, 'unavailable', 'this control instance cannot run release phases; try another one');
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
        ...manifestOf(change.manifest ?? current ?? {}),
        ...(phased ? { status: 'pending' as const, phase: { runner: ctx.releasePhase!.memberId, startedAt: Date.now() } } : {}),
      };
      const pointer: Current = phased ? { version: cur?.value.version ?? 0, latest: version, pending: version } : { version, latest: version };
      const compares: Compare[] = [
        { key: k.app(app), target: 'create', op: '==', value: appEntry.createRevision },
        { key: k.current(app), target: 'mod', op: '==', value: cur?.modRevision ?? 0 },
        { key: k.release(app, version), target: 'create', op: '==', value: 0 },
        { key: k.config(app), target: 'mod', op: '==', value: cfg?.modRevision ?? 0 },
        { key: k.formation(app), target: 'mod', op: '==', value: form?.modRevision ?? 0 },
      ];
      const ops: Op[] = [
        { put: k.release(app, version), value: cluster.value(k.release(app, version), release) },
        { put: k.current(app), value: cluster.value(k.current(app), pointer) },
      ];
      if (change.configChanged) ops.push({ put: k.config(app), value: cluster.value(k.config(app), { sealed: change.config }) });
      if (change.formation) ops.push({ put: k.formation(app), value: cluster.value(k.formation(app), change.formation) });
      if (change.ops) ops.push(...change.ops);
      if (change.compares) compares.push(...change.compares);
      return { compares, ops, result: { release, phased } };
    }).then((made) => {
      if (!made) return null;
      if (made.phased) ctx.releasePhase!.start(made.release);
      else ctx.events?.release(made.release);
      return made.release;
    });
  });
}

function manifestOf(m: ReleaseManifest): ReleaseManifest {
  return { ...(m.cron?.length ? { cron: m.cron } : {}), ...(m.healthcheck ? { healthcheck: m.healthcheck } : {}) };
}

/** Extra time past the release command's limit before another instance calls it abandoned. */
const ABANDON_MARGIN_MS = 60_000;

/** Fails pending release v when its runner's member record is gone or it overran; true when it did. */
async function failAbandoned(ctx: ReleaseContext, app: string, version: number): Promise<boolean> {
  const rel = (await ctx.cluster.get(ctx.cluster.keys.release(app, version)))?.value;
  const phase = rel?.phase;
  let why: string | undefined;
  if (!rel || rel.status !== 'pending' || !phase) why = 'the release is not pending';
  else if (!(await ctx.cluster.get(ctx.cluster.keys.member(phase.runner)))) why = `the control instance running it (${phase.runner}) stopped`;
  else if (ctx.releasePhase && Date.now() - phase.startedAt > ctx.releasePhase.timeoutMs + ABANDON_MARGIN_MS) why = 'it ran past the release phase time limit';
  if (!why) return false;
  await settleRelease(ctx, app, version, { ok: false, error: `Release command interrupted: ${why}` });
  return true;
}

export interface PhaseOutcome {
  ok: boolean;
  /** Why it failed, in one line. */
  error?: string;
  exitCode?: number | null;
  dyno?: string;
}

/**
 * The end of release v's release phase, in one transaction:
 *
 *   keys:    current/{app}, releases/{app}/{v}
 *   compare: both mod revisions are what we read
 *   result:  v is `succeeded` and current (unless a newer one is), or `failed` with the
 *            reason; `current.pending` is cleared. A release no longer pending is left as it
 *            is (someone settled it first) and returned unchanged.
 */
export async function settleRelease(ctx: ReleaseContext, app: string, version: number, outcome: PhaseOutcome): Promise<Release | undefined> {
  const { cluster } = ctx;
  const k = cluster.keys;
  const r = await retryTxn(cluster, `too many concurrent changes to ${app}; try again`, async () => {
    const [cur, relEntry] = await Promise.all([cluster.get(k.current(app)), cluster.get(k.release(app, version))]);
    if (!cur || !relEntry) return { done: undefined };
    const rel = relEntry.value;
    if (rel.status !== 'pending') return { done: { release: rel, settled: false } };
    const phase: ReleasePhaseInfo = {
      ...(rel.phase ?? { runner: '', startedAt: rel.createdAt }),
      finishedAt: Date.now(),
      ...(outcome.exitCode !== undefined ? { exitCode: outcome.exitCode } : {}),
      ...(outcome.dyno ? { dyno: outcome.dyno } : {}),
      ...(outcome.error ? { error: outcome.error } : {}),
    };
    const settled: Release = { ...rel, status: outcome.ok ? 'succeeded' : 'failed', phase };
    const c = cur.value;
    const pointer: Current = {
      version: outcome.ok ? Math.max(c.version, version) : c.version,
      latest: Math.max(c.latest ?? c.version, version),
      ...(c.pending !== undefined && c.pending !== version ? { pending: c.pending } : {}),
    };
    return {
      compares: [
        { key: k.current(app), target: 'mod', op: '==', value: cur.modRevision },
        { key: k.release(app, version), target: 'mod', op: '==', value: relEntry.modRevision },
      ],
      ops: [
        { put: k.release(app, version), value: cluster.value(k.release(app, version), settled) },
        { put: k.current(app), value: cluster.value(k.current(app), pointer) },
      ],
      result: { release: settled, settled: true },
    };
  });
  if (!r) return undefined;
  if (r.settled) {
    if (outcome.ok) ctx.events?.release(r.release);
    else ctx.events?.emit(app, `Release v${version} command failed${r.release.author ? ` by ${r.release.author}` : ''}`);
  }
  return r.release;
}

export interface Deploy {
  slug: Slug;
  processTypes: Record<string, string>;
  /** Defaults to `Deploy <first 7 of the slug's sha256>`; builds pass `Deploy <short commit>`. */
  description?: string;
  author: string;
  /** app.json cron and health check of this code (absent: none). */
  manifest?: ReleaseManifest;
  /** app.json on the push that first puts code live: config vars to set where not set yet, formation to apply. */
  setup?: { env: Record<string, string>; formation: Record<string, { quantity?: number; size?: string }> };
}

/**
 * A new release running `slug` with the app's latest config vars. Process types
 * the formation has never seen are added to it: `web` at 1 dyno (Heroku scales web
 * on the first deploy), others at 0.
 */
export async function deployRelease(ctx: ReleaseContext, app: string, deploy: Deploy): Promise<Release> {
  for (const type of Object.keys(deploy.processTypes)) {
    if (!isProcessType(type)) throw invalid(`process type "${type}" is not valid: use lowercase letters, digits and _`);
  }
  const r = await appendRelease(ctx, app, deploy.author, (s) => {
    const types: Record<string, ProcessFormation> = { ...s.formation.types };
    let added = false;
    for (const type of Object.keys(deploy.processTypes)) {
      if (types[type] || type === 'release') continue; // the release phase runs it, never the formation
      types[type] = { quantity: type === 'web' ? 1 : 0, size: 'standard-1x' };
      added = true;
    }
    for (const [type, f] of Object.entries(deploy.setup?.formation ?? {})) {
      const prev = types[type] ?? { quantity: 0, size: 'standard-1x' };
      types[type] = { quantity: f.quantity ?? prev.quantity, size: f.size ?? prev.size };
      added = true;
    }
    // app.json env: only what is not set yet, so a second try of a first deploy keeps generated secrets.
    let config = s.sealedConfig;
    const env = deploy.setup?.env ?? {};
    if (Object.keys(env).length) {
      const before = unseal(ctx.clusterKey, s.sealedConfig);
      const missing = Object.keys(env).filter((key) => !(key in before));
      if (missing.length) config = seal(ctx.clusterKey, { ...before, ...Object.fromEntries(missing.map((key) => [key, env[key]!])) });
    }
    return {
      description: deploy.description ?? `Deploy ${deploy.slug.sha256.slice(0, 7)}`,
      slug: deploy.slug,
      processTypes: deploy.processTypes,
      config,
      configChanged: config !== s.sealedConfig,
      manifest: deploy.manifest ?? {},
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
      if (!types[type] && type !== 'release') {
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
      manifest: target,
      ...(added ? { formation: { types } } : {}),
    };
  });
  return r!;
}
