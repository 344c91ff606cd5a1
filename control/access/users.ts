/**
 * Accounts (`users/{email}`). An admin creates them (`users:add`, which also
 * makes the user's first token); tokens act as their user. Removing a user
 * deletes the account, every token of it and its collaborations in one
 * transaction, so nothing it held keeps working for even one request.
 */
import { randomUUID } from 'node:crypto';
import type { Cluster, EntryOf, Op } from '../../cluster/client.ts';
import { isUserName } from '../../cluster/keys.ts';
import type { User } from '../../cluster/records.ts';
import { conflict, invalid, notFound } from '../errors.ts';

/** A user name as given (trimmed, lowercased), or a 422 that says what is accepted. */
export function checkEmail(raw: unknown): string {
  const email = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
  if (!isUserName(email)) throw invalid(`${JSON.stringify(raw ?? '')} is not a valid user: use an email address such as bob@example.com`);
  return email;
}

export async function findUser(cluster: Cluster, email: string): Promise<User | undefined> {
  if (!isUserName(email)) return undefined;
  return (await cluster.get(cluster.keys.user(email)))?.value;
}

export async function listUsers(cluster: Cluster): Promise<User[]> {
  const all = await cluster.list(cluster.keys.users());
  return (all.entries as EntryOf<'user'>[]).filter((e) => e.kind === 'user').map((e) => e.value).sort((a, b) => a.createdAt - b.createdAt);
}

/**
 * Creates the account; `ops` are written in the same transaction (the first token).
 *
 *   keys:    users/{email} (+ `ops`)
 *   compare: users/{email} does not exist
 *   result:  the user; 409 when it exists
 */
export async function createUser(cluster: Cluster, email: string, opts: { admin: boolean; by: string }, ops: Op[] = []): Promise<User> {
  const key = cluster.keys.user(email);
  const user: User = { email, id: randomUUID(), admin: opts.admin, createdAt: Date.now(), createdBy: opts.by };
  const r = await cluster.txn([{ key, target: 'create', op: '==', value: 0 }], [{ put: key, value: cluster.value(key, user) }, ...ops]);
  if (!r.succeeded) throw conflict(`${email} already has an account; list them with \`dynomesh users\``);
  return user;
}

/**
 * Deletes the account with its tokens and collaborations. Refused while the user
 * owns apps (someone must: transfer or destroy them first) and for the last admin.
 *
 *   keys:    users/{email}, its tokens/{hash} and collaborators/{app}/{email} (100 ops a txn)
 *   compare: the first txn: users/{email}'s mod revision is what we read; the rest none
 *   result:  the removed user; 409 when it changed meanwhile
 */
export async function removeUser(cluster: Cluster, email: string): Promise<User> {
  const k = cluster.keys;
  const entry = isUserName(email) ? await cluster.get(k.user(email)) : undefined;
  if (!entry) throw notFound(`no user ${email}; list them with \`dynomesh users\``);
  const [apps, tokens, collabs, users] = await Promise.all([cluster.list(k.apps()), cluster.list(k.tokens()), cluster.list(k.collaborators()), listUsers(cluster)]);
  const owned = (apps.entries as EntryOf<'app'>[]).filter((e) => e.kind === 'app' && e.value.owner === email && e.value.ownerIsUser).map((e) => e.value.name);
  if (owned.length) throw conflict(`${email} owns ${owned.join(', ')}; transfer them first (\`dynomesh apps:transfer NEW_OWNER -a APP\`) or destroy them`);
  if (entry.value.admin && users.filter((u) => u.admin).length === 1) throw conflict(`${email} is the last admin; add another admin first`);
  const ops: Op[] = [
    { del: entry.key },
    ...(tokens.entries as EntryOf<'token'>[]).filter((e) => e.kind === 'token' && e.value.user === email).map((e) => ({ del: e.key })),
    ...(collabs.entries as EntryOf<'collaborator'>[]).filter((e) => e.kind === 'collaborator' && e.value.user === email).map((e) => ({ del: e.key })),
  ];
  // The first transaction removes the account itself (guarded on it being unchanged); a token or
  // collaboration left by a cap-sized split no longer works without its account.
  const first = ops.splice(0, 100);
  const r = await cluster.txn([{ key: entry.key, target: 'mod', op: '==', value: entry.modRevision }], first);
  if (!r.succeeded) throw conflict(`${email} changed while removing it; try again`);
  while (ops.length) await cluster.txn([], ops.splice(0, 100));
  return entry.value;
}
