/**
 * `acm/{app}`: whether automatic certificates are on for an app, and each custom
 * domain's ACM status as Heroku shows it (`Cert issued`, `Failing` with a reason,
 * `Pending`). Users flip `enabled` and bump `refreshNonce`; the control leader
 * (acm.ts) writes the statuses. Every write is a compare-and-swap on the key's
 * mod revision, retried on conflict.
 */
import type { Cluster, EntryOf } from '../../cluster/client.ts';
import { retryTxn } from '../../cluster/retry-txn.ts';
import type { Acm } from '../../cluster/records.ts';
import { appNotFound } from '../errors.ts';

export function emptyAcm(app: string): Acm {
  return { app, enabled: false, domains: {}, refreshNonce: 0, updatedAt: Date.now() };
}

export async function getAcm(cluster: Cluster, app: string): Promise<Acm> {
  const k = cluster.keys;
  const [a, s] = await Promise.all([cluster.get(k.app(app)), cluster.get(k.acm(app))]);
  if (!a) throw appNotFound(app);
  return s?.value ?? emptyAcm(app);
}

/**
 * Applies `change` to the app's ACM record (`change` returns null to write nothing):
 *
 *   keys:    acm/{app}; apps/{app} compare only
 *   compare: the app's create revision and acm's mod revision are what we read
 *   result:  the new record; 404 when the app is gone
 */
export async function changeAcm(cluster: Cluster, app: string, change: (cur: Acm, entry: EntryOf<'acm'> | undefined) => Acm | null): Promise<Acm> {
  const k = cluster.keys;
  return retryTxn<Acm>(cluster, `${app}'s certificate state kept changing; try again`, async () => {
    const [a, s] = await Promise.all([cluster.get(k.app(app)), cluster.get(k.acm(app))]);
    if (!a) throw appNotFound(app);
    const next = change(s?.value ?? emptyAcm(app), s);
    if (next === null) return { done: s?.value ?? emptyAcm(app) };
    next.updatedAt = Date.now();
    return {
      compares: [
        { key: k.app(app), target: 'create', op: '==', value: a.createRevision },
        { key: k.acm(app), target: 'mod', op: '==', value: s?.modRevision ?? 0 },
      ],
      ops: [{ put: k.acm(app), value: cluster.value(k.acm(app), next) }],
      result: next,
    };
  });
}

/** Heroku's words for a domain's ACM status. */
export function acmStatusText(s: Acm['domains'][string] | undefined, enabled: boolean): string {
  if (!enabled) return '';
  if (!s) return 'Pending';
  return s.status === 'cert issued' ? 'Cert issued' : s.status === 'failing' ? 'Failing' : 'Pending';
}
