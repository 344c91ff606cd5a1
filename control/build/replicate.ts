/**
 * A new slug is on this instance's disk only. Before its release exists, each
 * other live control member is asked for it (HEAD /internal/slugs/:sha with the
 * node token); the slug route on a member that lacks it fetches it from its
 * peers and keeps it. So a push acknowledged to the user survives this instance
 * dying, as long as one other member took the copy.
 */
import type { EntryOf } from '../../cluster/client.ts';
import { peerToken } from '../../cluster/sealed.ts';
import type { ControlContext } from '../context.ts';

export interface Replication {
  peers: number;
  copies: number;
  failed: string[];
}

export async function replicateSlug(ctx: ControlContext, sha256: string, selfId: string, signal: AbortSignal, timeoutMs = 120_000): Promise<Replication> {
  const members = (await ctx.cluster.list(ctx.cluster.keys.members())).entries.filter((e): e is EntryOf<'member'> => e.kind === 'member' && e.value.id !== selfId);
  const token = peerToken(ctx.clusterKey);
  const failed: string[] = [];
  const results = await Promise.all(members.map(async (m) => {
    try {
      const res = await fetch(`${m.value.api.replace(/\/$/, '')}/internal/slugs/${sha256}`, {
        method: 'HEAD',
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      });
      if (res.status === 200) return true;
      failed.push(`${m.value.id} (HTTP ${res.status})`);
    } catch (err) {
      failed.push(`${m.value.id} (${(err as Error).message})`);
    }
    return false;
  }));
  return { peers: members.length, copies: results.filter(Boolean).length, failed };
}
