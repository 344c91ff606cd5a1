/**
 * Compact route-table changes: what the etcd watch turns each routing key change
 * into. Plain data (msgpackr-friendly), so one thread can own the watch and send
 * the same deltas to worker threads that each build their own table.
 */
import type { Change } from '../../cluster/watch.ts';
import type { RoutingApp } from '../../cluster/records.ts';

export interface EndpointAddr {
  host: string;
  port: number;
  node: string;
  release: number;
}

export type Delta =
  | { t: 'app'; app: string; v: Pick<RoutingApp, 'affinity' | 'balanceFactor' | 'maintenance'> | null }
  | { t: 'domain'; host: string; v: string | null }
  | { t: 'ep'; app: string; dyno: string; v: EndpointAddr | null };

/** Routing deltas from a batch of watch changes; other keys are ignored. */
export function deltasFrom(changes: readonly Change[]): Delta[] {
  const out: Delta[] = [];
  for (const c of changes) {
    if (c.type === 'put') {
      const e = c.entry;
      if (e.kind === 'routingApp') {
        out.push({ t: 'app', app: e.ref.app, v: { affinity: e.value.affinity, balanceFactor: e.value.balanceFactor, maintenance: e.value.maintenance } });
      } else if (e.kind === 'domain') {
        out.push({ t: 'domain', host: e.ref.host, v: e.value.app });
      } else if (e.kind === 'endpoint') {
        const v = e.value;
        out.push({ t: 'ep', app: e.ref.app, dyno: e.ref.dyno, v: { host: v.host, port: v.port, node: v.node, release: v.release } });
      }
    } else {
      const r = c.ref;
      if (!r) continue;
      if (r.kind === 'routingApp') out.push({ t: 'app', app: r.app, v: null });
      else if (r.kind === 'domain') out.push({ t: 'domain', host: r.host, v: null });
      else if (r.kind === 'endpoint') out.push({ t: 'ep', app: r.app, dyno: r.dyno, v: null });
    }
  }
  return out;
}
