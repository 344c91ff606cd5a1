/**
 * Reads what the scheduler decides from, straight from etcd: apps with their
 * current release and formation, live nodes, placements, and which dynos are
 * ready (status `up` or a published endpoint, on the release and node placed).
 * Every read is at the revision of the first, so the world is one moment of etcd
 * (a release and its `current` pointer, a placement and its status, always agree).
 */
import type { Cluster, EntryOf } from '../../cluster/client.ts';
import type { World } from './plan.ts';

export async function readWorld(cluster: Cluster): Promise<World> {
  const k = cluster.keys;
  const apps = await cluster.list(k.apps());
  const at = apps.revision;
  const [nodes, placements, statuses, cordons, endpoints] = await Promise.all([
    cluster.list(k.nodes(), at),
    cluster.list(k.placements(), at),
    cluster.list(k.statuses(), at),
    cluster.list(k.cordons(), at),
    cluster.list(k.endpoints(), at),
  ]);
  // Cordoned by `nodes:drain` (an etcd key, so it outlives agent restarts) or started with the label drain=true.
  const cordoned = new Set(cordons.entries.filter((e) => e.kind === 'cordon').map((e) => (e as EntryOf<'cordon'>).value.node));
  const appNames = apps.entries.filter((e) => e.kind === 'app').map((e) => (e as EntryOf<'app'>).value.name);
  const perApp = await Promise.all(
    appNames.map(async (name) => {
      const [cur, form] = await Promise.all([
        cluster.get(k.current(name), at),
        cluster.get(k.formation(name), at),
      ]);
      const release = cur ? (await cluster.get(k.release(name, cur.value.version), at))?.value : undefined;
      return { name, release, formation: form?.value ?? { types: {} } };
    }),
  );

  const ready = new Set<string>();
  const down = new Set<string>();
  for (const e of statuses.entries) {
    if (e.kind !== 'status') continue;
    const id = `${e.value.app}/${e.value.dyno}@${e.value.node}#${e.value.release}`;
    if (e.value.state === 'up') ready.add(id);
    else if (e.value.state === 'down') down.add(id);
  }
  // Endpoints are keyed by node (routing/endpoints/{node}/...): one list for every app.
  for (const e of endpoints.entries) if (e.kind === 'endpoint') ready.add(`${e.value.app}/${e.value.dyno}@${e.value.node}#${e.value.release}`);

  return {
    apps: perApp.map((a) => ({
      name: a.name,
      release: a.release ? { version: a.release.version, processTypes: a.release.processTypes, slug: a.release.slug?.sha256 ?? null } : undefined,
      formation: a.formation,
    })),
    nodes: nodes.entries
      .filter((e): e is EntryOf<'node'> => e.kind === 'node')
      .map((e) => ({ id: e.ref.node, memoryMb: e.value.memoryMb, slugs: e.value.slugs, draining: e.value.labels?.drain === 'true' || cordoned.has(e.ref.node) })),
    placements: placements.entries
      .filter((e): e is EntryOf<'placement'> => e.kind === 'placement')
      .map((e) => {
        const id = `${e.value.app}/${e.value.dyno}@${e.ref.node}#${e.value.release}`;
        return { node: e.ref.node, placement: e.value, ready: ready.has(id), finished: e.value.command !== undefined && down.has(id) };
      }),
  };
}
