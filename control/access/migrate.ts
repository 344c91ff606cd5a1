/**
 * One-time migration `accounts-v1`, run by the elected leader, for clusters
 * from before accounts existed (tokens had a free-form `user`, apps an
 * untrusted `owner`, and any token could act on any app):
 *
 *   1. every token's user gets an account (`users/{user}`), admin when any of
 *      its tokens was, so tokens already handed out keep working;
 *   2. every app whose owner is not yet an account name (`ownerIsUser` unset)
 *      is given to the admin (the oldest admin account), who can then add the
 *      right people with `access:add` or `apps:transfer`;
 *   3. `migrations/accounts-v1` records that it ran; no leader runs it again.
 *
 * Each write is its own compare-and-swap, so a leader that dies half-way leaves
 * a state the next leader finishes. Until it has run, apps without
 * `ownerIsUser` are reachable by admins only (see `access/members.ts`).
 */
import { randomUUID } from 'node:crypto';
import type { Cluster, EntryOf } from '../../cluster/client.ts';
import { isUserName } from '../../cluster/keys.ts';
import type { App, User } from '../../cluster/records.ts';
import type { Logger } from '../../lib/log.ts';
import { ADMIN_USER, listTokens } from '../tokens.ts';
import { listUsers } from './users.ts';

export const ACCOUNTS_MIGRATION = 'accounts-v1';

/** Runs the migration unless it has run; returns what it did (undefined when it had run before). */
export async function migrateAccounts(cluster: Cluster, by: string, log: Logger): Promise<string | undefined> {
  const k = cluster.keys;
  if (await cluster.get(k.migration(ACCOUNTS_MIGRATION))) return undefined;

  // 1. an account for every token's user
  const tokens = await listTokens(cluster);
  const existing = new Set((await listUsers(cluster)).map((u) => u.email));
  let created = 0;
  for (const t of tokens) {
    const email = t.value.user.toLowerCase();
    if (existing.has(email) || !isUserName(email)) continue;
    const admin = tokens.some((x) => x.value.user.toLowerCase() === email && x.value.admin);
    const user: User = { email, id: randomUUID(), admin, createdAt: t.value.createdAt, createdBy: 'migration' };
    const key = k.user(email);
    // keys: users/{email}; compare: it does not exist (another leader's pass may have made it); result: the account.
    await cluster.txn([{ key, target: 'create', op: '==', value: 0 }], [{ put: key, value: cluster.value(key, user) }]);
    existing.add(email);
    created++;
  }
  const users = await listUsers(cluster);
  let admin = users.find((u) => u.admin)?.email;
  if (!admin) {
    const user: User = { email: ADMIN_USER, id: randomUUID(), admin: true, createdAt: Date.now(), createdBy: 'migration' };
    // keys: users/admin; compare: it does not exist; result: the account apps without one go to.
    await cluster.txn([{ key: k.user(ADMIN_USER), target: 'create', op: '==', value: 0 }], [{ put: k.user(ADMIN_USER), value: cluster.value(k.user(ADMIN_USER), user) }]);
    admin = ADMIN_USER;
  }

  // 2. apps from before accounts go to the admin
  const apps = (await cluster.list(k.apps())).entries as EntryOf<'app'>[];
  let given = 0;
  for (const e of apps) {
    if (e.kind !== 'app' || e.value.ownerIsUser) continue;
    const next: App = { ...e.value, owner: admin, ownerIsUser: true };
    // keys: apps/{app}; compare: its mod revision is what we listed; result: owned by the admin.
    const r = await cluster.txn([{ key: e.key, target: 'mod', op: '==', value: e.modRevision }], [{ put: e.key, value: cluster.value(k.app(e.value.name), next) }]);
    if (r.succeeded) {
      given++;
      log.info({ app: e.value.name, previousOwner: e.value.owner, owner: admin }, 'app-owner-migrated');
    }
    // A failed compare means the app changed (destroyed, or transferred: then it has an owner already).
  }

  // 3. done, once
  const summary = `accounts created: ${created}; apps given to ${admin}: ${given}`;
  const key = k.migration(ACCOUNTS_MIGRATION);
  // keys: migrations/accounts; compare: it does not exist; result: the migration never runs again.
  await cluster.txn([{ key, target: 'create', op: '==', value: 0 }], [{ put: key, value: cluster.value(key, { name: ACCOUNTS_MIGRATION, doneAt: Date.now(), by, summary }) }]);
  log.info({ migration: ACCOUNTS_MIGRATION, summary }, 'migration-done');
  return summary;
}
