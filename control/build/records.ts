/**
 * Build records under `builds/{app}/{id}`: one per push, `pending` while it runs,
 * then `succeeded` or `failed`. They also make "one build at a time per app"
 * hold across control instances:
 *
 *   keys:    builds/{app}/{id} (create), builds/{app}/ (list)
 *   rule:    after writing our pending record, any other pending build of the app
 *            with a smaller create revision that is still live wins; we delete ours
 *            and refuse. Both writers see each other's record, so exactly the later
 *            one backs off. A pending build whose control instance is gone, or that
 *            is past the time limit, is stale: it is marked failed and ignored.
 */
import type { Cluster, EntryOf } from '../../cluster/client.ts';
import type { Build } from '../../cluster/records.ts';

export async function listBuilds(cluster: Cluster, app: string): Promise<EntryOf<'build'>[]> {
  const all = await cluster.list(cluster.keys.builds(app));
  return all.entries.filter((e): e is EntryOf<'build'> => e.kind === 'build').sort((a, b) => a.value.createdAt - b.value.createdAt || a.createRevision - b.createRevision);
}

export async function getBuild(cluster: Cluster, app: string, id: string): Promise<Build | undefined> {
  try {
    return (await cluster.get(cluster.keys.build(app, id)))?.value;
  } catch {
    return undefined; // not a usable id
  }
}

export async function saveBuild(cluster: Cluster, build: Build): Promise<void> {
  await cluster.put(cluster.keys.build(build.app, build.id), build);
}

/**
 * Writes the pending record; returns the build that is already running when we must not.
 *
 *   keys:    builds/{app}/{id} (put-if-absent); then stale pending builds of the app
 *   compare: the new id does not exist; a stale build's mod revision is what we listed
 *   result:  undefined (ours runs), or the older pending build (ours is deleted again);
 *            stale ones (their control stopped, or too old) are marked failed
 */
export async function claimBuild(cluster: Cluster, build: Build, staleAfterMs: number): Promise<Build | undefined> {
  const k = cluster.keys.build(build.app, build.id);
  const put = await cluster.txn([{ key: k, target: 'create', op: '==', value: 0 }], [{ put: k, value: cluster.value(k, build) }]);
  if (!put.succeeded) throw new Error(`build id ${build.id} already exists`);
  const [builds, members] = await Promise.all([listBuilds(cluster, build.app), cluster.list(cluster.keys.members())]);
  const live = new Set(members.entries.filter((e) => e.kind === 'member').map((e) => (e.value as { id: string }).id));
  const mine = builds.find((e) => e.value.id === build.id);
  for (const e of builds) {
    const b = e.value;
    if (b.id === build.id || b.status !== 'pending') continue;
    const stale = (b.control !== undefined && !live.has(b.control)) || Date.now() - b.createdAt > staleAfterMs;
    if (stale) {
      const bk = cluster.keys.build(b.app, b.id);
      await cluster.txn([{ key: bk, target: 'mod', op: '==', value: e.modRevision }], [
        { put: bk, value: cluster.value(bk, { ...b, status: 'failed', finishedAt: Date.now(), error: 'the control instance running this build stopped' }) },
      ]);
      continue;
    }
    if (mine && e.createRevision < mine.createRevision) {
      await cluster.delete(k);
      return b;
    }
  }
  return undefined;
}

/**
 * At start: builds this instance left `pending` when it died cannot be running any
 * more (its builds run in-process), so they are marked failed and stop blocking
 * their app's next push.
 */
export async function failOrphanedBuilds(cluster: Cluster, memberId: string): Promise<number> {
  const apps = await cluster.list(cluster.keys.apps());
  let n = 0;
  for (const a of apps.entries) {
    if (a.kind !== 'app') continue;
    const name = (a.value as { name: string }).name;
    for (const e of await listBuilds(cluster, name)) {
      const b = e.value;
      if (b.status !== 'pending' || b.control !== memberId) continue;
      const bk = cluster.keys.build(b.app, b.id);
      // keys: builds/{app}/{id}; compare: its mod revision is what we listed; result: failed (else someone else settled it).
      const r = await cluster.txn([{ key: bk, target: 'mod', op: '==', value: e.modRevision }], [
        { put: bk, value: cluster.value(bk, { ...b, status: 'failed', finishedAt: Date.now(), error: 'the control instance running this build restarted' }) },
      ]);
      if (r.succeeded) n++;
    }
  }
  return n;
}

/** Builds kept per app; older finished ones go (record and output), as build history does on Heroku. */
export const KEEP_BUILDS = 100;

/**
 * Deletes the oldest finished builds beyond `keep`; returns their ids so their output files can go too.
 * keys: builds/{app}/{id}, one txn each; compare: its mod revision is what we listed; result: deleted.
 */
export async function pruneBuilds(cluster: Cluster, app: string, keep = KEEP_BUILDS): Promise<Build[]> {
  const builds = await listBuilds(cluster, app);
  const excess = builds.length - keep;
  if (excess <= 0) return [];
  const old = builds.filter((e) => e.value.status !== 'pending').slice(0, excess);
  for (const e of old) {
    const bk = cluster.keys.build(app, e.value.id);
    await cluster.txn([{ key: bk, target: 'mod', op: '==', value: e.modRevision }], [{ del: bk }]);
  }
  return old.map((e) => e.value);
}
