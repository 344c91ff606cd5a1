/**
 * Dyno usage (issue 19): the pure rules shared by the dyno-node that records
 * runs and the control that closes a lost host's runs and sums them.
 *
 * A run is open (`usage-open/{node}/{run}`, its start) while its process may be
 * running; its node writes `end` there when it exits (a node writes only under
 * its own prefix). The leader then closes it into intervals
 * (`usage/{app}/{month}/{run}.{start}`), cut at each calendar month's end (UTC),
 * so a month's usage is the sum of its keys plus the open runs' time in it.
 * Closing is one transaction that puts the intervals and deletes the open key,
 * guarded on the open key's revision: nobody counts a run twice.
 */
import type { Compare, Op } from './client.ts';
import type { Cluster } from './client.ts';
import type { UsageInterval, UsageOpen } from './records.ts';

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `2026-12` of a time (UTC). */
export function monthOf(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}`;
}

/** [start, end) of a month, ms. */
export function monthRange(month: string): [number, number] {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return [Date.UTC(y, m - 1, 1), Date.UTC(y, m, 1)];
}

/** The closed intervals of a run that ran from `open.start` to `end`, one per month it touched. */
export function splitByMonth(open: UsageOpen, end: number, closedBy: UsageInterval['closedBy']): UsageInterval[] {
  const out: UsageInterval[] = [];
  const stop = Math.max(end, open.start);
  let from = open.start;
  do {
    const [, monthEnd] = monthRange(monthOf(from));
    const to = Math.min(stop, monthEnd);
    out.push({ ...open, start: from, end: to, closedBy });
    from = to;
  } while (from < stop);
  return out;
}

/** Seconds of [start, end) inside [from, to). */
export function overlapSeconds(start: number, end: number, from: number, to: number): number {
  return Math.max(0, Math.min(end, to) - Math.max(start, from)) / 1000;
}

/** A node marks its run ended (in its own key), if the key is still the one it read. */
export async function endRun(cluster: Cluster, open: UsageOpen, modRevision: number, end: number): Promise<boolean> {
  const key = cluster.keys.usageOpen(open.node, open.run);
  const r = await cluster.txn([{ key, target: 'mod', op: '==', value: modRevision }], [{ put: key, value: cluster.value(key, { ...open, end: Math.max(open.start, end) }) }]);
  return r.succeeded;
}

/** Seconds of a run (open, ended or not) inside [from, to), counting an open run until `now`. */
export function runSeconds(open: UsageOpen, now: number, from: number, to: number): number {
  return overlapSeconds(open.start, open.end ?? now, from, to);
}

/**
 * Closes an open run at `end`: its intervals in, its open key out, if the open key
 * is still the one read (`modRevision`) and every `extra` compare holds. Returns
 * whether it closed it.
 */
export async function closeRun(cluster: Cluster, open: UsageOpen, modRevision: number, end: number, closedBy: UsageInterval['closedBy'], extra: Compare[] = []): Promise<boolean> {
  const k = cluster.keys;
  const openKey = k.usageOpen(open.node, open.run);
  const { end: _ended, ...run } = open;
  const ops: Op[] = splitByMonth(run, end, closedBy).map((iv) => {
    const key = k.usageInterval(iv.app, monthOf(iv.start), iv.run, iv.start);
    return { put: key, value: cluster.value(key, iv) };
  });
  ops.push({ del: openKey });
  const r = await cluster.txn([{ key: openKey, target: 'mod', op: '==', value: modRevision }, ...extra], ops);
  return r.succeeded;
}
