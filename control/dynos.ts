/**
 * Dynos as users see them: the scheduler's placements joined with the status
 * dyno-nodes report. Restart bumps a placement's restartNonce (the dyno-node
 * replaces the process); stop deletes the placement, and the scheduler starts a
 * fresh one if the dyno is part of the formation, as Heroku's `ps:stop` does.
 * Both are compare-and-swap on the placement, so they never clobber the leader.
 */
import type { Cluster, EntryOf } from '../cluster/client.ts';
import { retryTxn } from '../cluster/retry-txn.ts';
import type { DynoState } from '../cluster/records.ts';
import { appNotFound, notFound } from './errors.ts';

export interface DynoInfo {
  name: string;
  type: string;
  state: DynoState;
  release: number;
  size: string;
  command: string | null;
  node: string;
  host: string | null;
  since: number;
  restarts: number;
  createdAt: number;
  message: string;
}

async function placementsOf(cluster: Cluster, app: string): Promise<EntryOf<'placement'>[]> {
  const all = await cluster.list(cluster.keys.placements());
  return all.entries.filter((e): e is EntryOf<'placement'> => e.kind === 'placement' && e.value.app === app);
}

function matches(p: EntryOf<'placement'>, which: string | undefined): boolean {
  return which === undefined || p.value.dyno === which || p.value.type === which;
}

export async function listDynos(cluster: Cluster, app: string): Promise<DynoInfo[]> {
  const k = cluster.keys;
  const [a, placements, nodes] = await Promise.all([
    cluster.get(k.app(app)),
    placementsOf(cluster, app),
    cluster.list(k.nodes()),
  ]);
  if (!a) throw appNotFound(app);
  // Statuses are keyed by node: read those of the nodes the app's dynos are placed on.
  const onNodes = await Promise.all([...new Set(placements.map((p) => p.ref.node))].map((n) => cluster.list(k.statusesOn(n))));
  const status = new Map(onNodes.flatMap((l) => l.entries as EntryOf<'status'>[]).filter((e) => e.kind === 'status' && e.value.app === app).map((e) => [`${e.ref.node}/${e.value.dyno}`, e.value]));
  const address = new Map(nodes.entries.filter((e) => e.kind === 'node').map((e) => [(e as EntryOf<'node'>).value.id, (e as EntryOf<'node'>).value.address]));
  return placements
    .map((p) => {
      const s = status.get(`${p.ref.node}/${p.value.dyno}`);
      const fresh = s && s.node === p.ref.node && s.release === p.value.release;
      return {
        name: p.value.dyno,
        type: p.value.type,
        state: fresh ? s.state : 'starting',
        release: p.value.release,
        size: p.value.size,
        command: p.value.command ?? null,
        node: p.ref.node,
        host: address.get(p.ref.node) ?? null,
        since: fresh ? s.since : p.value.createdAt,
        restarts: fresh ? s.restarts : 0,
        createdAt: p.value.createdAt,
        message: fresh ? s.message : '',
      } satisfies DynoInfo;
    })
    .sort((x, y) => x.type.localeCompare(y.type) || Number(x.name.split('.')[1]) - Number(y.name.split('.')[1]));
}

/**
 * Restarts every dyno of the app, of one process type (`web`), or one dyno (`web.2`). Returns how many.
 * One transaction per placement:
 *
 *   keys:    dynos/{node}/{app}/{dyno}
 *   compare: its mod revision is what we read
 *   result:  restartNonce + 1 (the dyno-node replaces the process); a placement the leader
 *            rewrote meanwhile is read again, one it removed is not counted
 */
export async function restartDynos(cluster: Cluster, app: string, which?: string): Promise<number> {
  if (!(await cluster.get(cluster.keys.app(app)))) throw appNotFound(app);
  const targets = (await placementsOf(cluster, app)).filter((p) => matches(p, which));
  if (targets.length === 0) {
    if (which !== undefined) throw notFound(`no dyno or process type ${which} is running in ${app}; see \`dynomesh ps -a ${app}\``);
    return 0;
  }
  let done = 0;
  for (const p of targets) {
    const key = cluster.keys.placement(p.ref.node, p.ref.app, p.ref.dyno);
    const restarted = await retryTxn(cluster, `${app}'s dynos kept changing; try again`, async (attempt) => {
      const e = attempt === 0 ? p : await cluster.get(key);
      if (!e) return { done: false };
      const next = { ...e.value, restartNonce: e.value.restartNonce + 1 };
      return { compares: [{ key, target: 'mod', op: '==', value: e.modRevision }], ops: [{ put: key, value: cluster.value(key, next) }], result: true };
    });
    if (restarted) done++;
  }
  return done;
}

/**
 * Stops one dyno or every dyno of a type. Formation dynos come back fresh, one-off dynos do not.
 *
 *   keys:    dynos/{node}/{app}/{dyno}, one txn each
 *   compare: its mod revision is what we read
 *   result:  the placement is deleted; one the leader changed meanwhile is left (not counted)
 */
export async function stopDynos(cluster: Cluster, app: string, which: string): Promise<number> {
  if (!(await cluster.get(cluster.keys.app(app)))) throw appNotFound(app);
  const targets = (await placementsOf(cluster, app)).filter((p) => matches(p, which));
  if (targets.length === 0) throw notFound(`no dyno or process type ${which} is running in ${app}; see \`dynomesh ps -a ${app}\``);
  let n = 0;
  for (const p of targets) {
    const r = await cluster.txn([{ key: p.key, target: 'mod', op: '==', value: p.modRevision }], [{ del: p.key }]);
    if (r.succeeded) n++;
  }
  return n;
}
