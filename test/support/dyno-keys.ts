/**
 * Status and endpoint keys are grouped by node (`status/{node}/{app}/{dyno}`,
 * `routing/endpoints/{node}/...`, cluster/keys.ts). Tests that do not care which
 * node runs a dyno look it up by app and dyno here.
 */
import type { Cluster, EntryOf } from '../../cluster/client.ts';

export async function listEndpointsOf(cluster: Cluster, app: string): Promise<{ entries: EntryOf<'endpoint'>[] }> {
  const { entries } = await cluster.list(cluster.keys.endpoints());
  return { entries: (entries as EntryOf<'endpoint'>[]).filter((e) => e.kind === 'endpoint' && e.ref.app === app) };
}

export async function listStatusesOf(cluster: Cluster, app: string): Promise<{ entries: EntryOf<'status'>[] }> {
  const { entries } = await cluster.list(cluster.keys.statuses());
  return { entries: (entries as EntryOf<'status'>[]).filter((e) => e.kind === 'status' && e.ref.app === app) };
}

/** The endpoint of `app`/`dyno` on whichever node holds it (the latest written, as routers take it). */
export async function endpointOf(cluster: Cluster, app: string, dyno: string): Promise<EntryOf<'endpoint'> | undefined> {
  return (await listEndpointsOf(cluster, app)).entries.filter((e) => e.ref.dyno === dyno).sort((a, b) => b.modRevision - a.modRevision)[0];
}

export async function statusOf(cluster: Cluster, app: string, dyno: string): Promise<EntryOf<'status'> | undefined> {
  return (await listStatusesOf(cluster, app)).entries.filter((e) => e.ref.dyno === dyno).sort((a, b) => b.modRevision - a.modRevision)[0];
}
