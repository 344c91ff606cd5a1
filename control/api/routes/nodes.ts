/**
 * /nodes (admin): the dyno hosts, their credentials (`nodes:enroll`, `nodes:revoke`)
 * and cordoning for `dynomesh nodes:drain`.
 * A cordon is a `cordons/{node}` key with no lease: the scheduler places nothing
 * new on the node and moves its dynos off (web ones with preboot), and it stays
 * cordoned across agent restarts until `DELETE /nodes/:node/cordon` (set by `POST`).
 */
import type { Cluster, EntryOf } from '../../../cluster/client.ts';
import { enrolNode } from '../../../cluster/node-credential.ts';
import type { Cordon } from '../../../cluster/records.ts';
import type { ControlContext } from '../../context.ts';
import { invalid, notFound } from '../../errors.ts';
import type { ApiRouter } from '../router.ts';

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/;

/** A dyno host as the API shows it (the CLI reads the same shape). */
export interface NodeJson {
  id: string;
  /** `up` while its agent holds its lease, `gone` for a cordoned node that is not running. */
  state: 'up' | 'gone';
  address: string | null;
  memory_mb: number | null;
  labels: Record<string, string>;
  agent_version: string | null;
  started_at: string | null;
  cordon: { by: string; reason: string; created_at: string } | null;
  /** Dynos placed on the node (`app/web.1`), formation and one-off. */
  dynos: string[];
}

async function listNodes(cluster: Cluster): Promise<NodeJson[]> {
  const k = cluster.keys;
  const [nodes, cordons, placements] = await Promise.all([cluster.list(k.nodes()), cluster.list(k.cordons()), cluster.list(k.placements())]);
  const byId = new Map<string, NodeJson>();
  for (const e of nodes.entries as EntryOf<'node'>[]) {
    if (e.kind !== 'node') continue;
    const n = e.value;
    byId.set(n.id, {
      id: n.id, state: 'up', address: n.address, memory_mb: n.memoryMb, labels: n.labels, agent_version: n.agentVersion,
      started_at: new Date(n.startedAt).toISOString(), cordon: null, dynos: [],
    });
  }
  for (const e of cordons.entries as EntryOf<'cordon'>[]) {
    if (e.kind !== 'cordon') continue;
    const n = byId.get(e.value.node) ?? {
      id: e.value.node, state: 'gone' as const, address: null, memory_mb: null, labels: {}, agent_version: null, started_at: null, cordon: null, dynos: [],
    };
    n.cordon = { by: e.value.by, reason: e.value.reason, created_at: new Date(e.value.createdAt).toISOString() };
    byId.set(n.id, n);
  }
  for (const e of placements.entries as EntryOf<'placement'>[]) {
    if (e.kind === 'placement') byId.get(e.ref.node)?.dynos.push(`${e.value.app}/${e.value.dyno}`);
  }
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}

async function findNode(cluster: Cluster, id: string): Promise<NodeJson> {
  if (!NODE_ID.test(id)) throw invalid(`"${id}" is not a node id (letters, digits, . _ : -)`);
  const n = (await listNodes(cluster)).find((x) => x.id === id);
  if (!n) throw notFound(`Couldn't find that node: ${id}. Check the name with \`dynomesh nodes\`.`);
  return n;
}

export function nodeRoutes(r: ApiRouter, ctx: ControlContext): void {
  r.get('/nodes', async () => ({ body: await listNodes(ctx.cluster) }));

  r.get('/nodes/:node', async (c) => ({ body: await findNode(ctx.cluster, c.params.node!) }));

  r.post('/nodes/:node/cordon', async (c) => {
    const node = c.params.node!;
    await findNode(ctx.cluster, node);
    const body = ((await c.body().catch(() => ({}))) ?? {}) as { reason?: unknown };
    if (body.reason !== undefined && typeof body.reason !== 'string') throw invalid('"reason" must be a string');
    const cordon: Cordon = { node, by: c.token!.user, reason: (body.reason as string | undefined) ?? 'drain', createdAt: Date.now() };
    const k = ctx.cluster.keys.cordon(node);
    // Keep the first cordon's time and author when drained twice.
    if (!(await ctx.cluster.get(k))) await ctx.cluster.put(k, cordon);
    ctx.log.info({ node, user: c.token!.user, reason: cordon.reason }, 'node-cordoned');
    return { body: await findNode(ctx.cluster, node) };
  });

  // A node gets its credential file from this answer once; a second enrolment replaces the first.
  r.post('/nodes/:node/credential', async (c) => {
    const node = c.params.node!;
    if (!NODE_ID.test(node)) throw invalid(`"${node}" is not a node id (letters, digits, . _ : -)`);
    const cred = await enrolNode(ctx.cluster, ctx.clusterKey, node, c.token!.user);
    ctx.log.info({ node, user: c.token!.user }, 'node-enrolled');
    return { status: 201, body: { node, secret: cred.secret.toString('hex'), log: cred.log.toString('hex') } };
  });

  // Revoked at once (every node request reads its enrolment), and cordoned so its dynos move elsewhere.
  r.delete('/nodes/:node/credential', async (c) => {
    const node = c.params.node!;
    if (!NODE_ID.test(node)) throw invalid(`"${node}" is not a node id (letters, digits, . _ : -)`);
    const k = ctx.cluster.keys;
    const had = await ctx.cluster.get(k.nodeCredential(node));
    await ctx.cluster.delete(k.nodeCredential(node));
    if (!(await ctx.cluster.get(k.cordon(node)))) {
      const cordon: Cordon = { node, by: c.token!.user, reason: 'revoked', createdAt: Date.now() };
      await ctx.cluster.put(k.cordon(node), cordon);
    }
    ctx.log.info({ node, user: c.token!.user, wasEnrolled: !!had }, 'node-revoked');
    return { body: { node, revoked: true, was_enrolled: !!had } };
  });

  r.delete('/nodes/:node/cordon', async (c) => {
    const node = c.params.node!;
    await findNode(ctx.cluster, node);
    await ctx.cluster.delete(ctx.cluster.keys.cordon(node));
    ctx.log.info({ node, user: c.token!.user }, 'node-uncordoned');
    const after = await listNodes(ctx.cluster);
    return { body: after.find((x) => x.id === node) ?? null };
  });
}
