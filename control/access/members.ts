/**
 * An app's members: its owner and collaborators (`collaborators/{app}/{email}`),
 * read from etcd on every request, so adding or removing one takes effect on
 * the very next request on every control instance (no cache).
 */
import { randomUUID } from 'node:crypto';
import type { Cluster, EntryOf } from '../../cluster/client.ts';
import { retryTxn } from '../../cluster/retry-txn.ts';
import { isAppName, isUserName } from '../../cluster/keys.ts';
import type { App, Collaborator } from '../../cluster/records.ts';
import { appNotFound, conflict, invalid, notFound } from '../errors.ts';
import { seesEveryApp, type Principal } from './principal.ts';
import { findUser } from './users.ts';

export type Role = 'owner' | 'collaborator' | 'admin';

/**
 * The principal's role on an app, or undefined when the app does not exist or
 * they are not a member (the API answers both the same: 404).
 */
export async function roleOn(cluster: Cluster, p: Principal, appName: string): Promise<{ role: Role; app: App } | undefined> {
  if (!isAppName(appName)) return undefined;
  if (p.token.app !== undefined && p.token.app !== appName) return undefined;
  const k = cluster.keys;
  const [a, c] = await Promise.all([cluster.get(k.app(appName)), isUserName(p.user.email) ? cluster.get(k.collaborator(appName, p.user.email)) : undefined]);
  if (!a) return undefined;
  if (a.value.ownerIsUser && a.value.owner === p.user.email) return { role: 'owner', app: a.value };
  if (c) return { role: 'collaborator', app: a.value };
  if (seesEveryApp(p)) return { role: 'admin', app: a.value };
  return undefined;
}

/** Names of the apps the principal may see, sorted (what `GET /apps` lists). */
export async function visibleApps(cluster: Cluster, p: Principal): Promise<string[]> {
  const k = cluster.keys;
  const [apps, collabs] = await Promise.all([cluster.list(k.apps()), cluster.list(k.collaborators())]);
  const mine = new Set((collabs.entries as EntryOf<'collaborator'>[]).filter((e) => e.kind === 'collaborator' && e.value.user === p.user.email).map((e) => e.value.app));
  return (apps.entries as EntryOf<'app'>[])
    .filter((e) => e.kind === 'app')
    .map((e) => e.value)
    .filter((a) => p.token.app === undefined || a.name === p.token.app)
    .filter((a) => seesEveryApp(p) || (a.ownerIsUser && a.owner === p.user.email) || mine.has(a.name))
    .map((a) => a.name)
    .sort();
}

export interface Member {
  user: string;
  role: 'owner' | 'collaborator';
  createdAt: number;
  id: string;
}

/** The owner first, then collaborators in the order they were added. */
export async function listMembers(cluster: Cluster, appName: string): Promise<Member[]> {
  const k = cluster.keys;
  const [a, collabs] = await Promise.all([cluster.get(k.app(appName)), cluster.list(k.collaboratorsOf(appName))]);
  if (!a) throw appNotFound(appName);
  const owner: Member = { user: a.value.owner, role: 'owner', createdAt: a.value.createdAt, id: a.value.id ?? a.value.name };
  const rest = (collabs.entries as EntryOf<'collaborator'>[])
    .filter((e) => e.kind === 'collaborator')
    .sort((x, y) => x.createRevision - y.createRevision)
    .map((e) => ({ user: e.value.user, role: 'collaborator' as const, createdAt: e.value.createdAt, id: `${appName}:${e.value.user}` }));
  return [owner, ...rest];
}

/**
 * Adds a collaborator; the app and the account must exist, and the owner is not added twice.
 *
 *   keys:    collaborators/{app}/{email}
 *   compare: the app's create revision is what we read, users/{email} exists, the collaborator does not
 *   result:  the collaborator; 409 when it exists or the app or account changed
 */
export async function addCollaborator(cluster: Cluster, appName: string, email: string, by: string): Promise<Collaborator> {
  const k = cluster.keys;
  const [a, u] = await Promise.all([cluster.get(k.app(appName)), findUser(cluster, email)]);
  if (!a) throw appNotFound(appName);
  if (!u) throw notFound(`no user ${email}; an admin adds accounts with \`dynomesh users:add ${email}\``);
  if (a.value.ownerIsUser && a.value.owner === email) throw invalid(`${email} owns ${appName} already`);
  const key = k.collaborator(appName, email);
  const rec: Collaborator = { app: appName, user: email, createdAt: Date.now(), by };
  const r = await cluster.txn(
    [
      { key: k.app(appName), target: 'create', op: '==', value: a.createRevision },
      { key: k.user(email), target: 'create', op: '!=', value: 0 },
      { key, target: 'create', op: '==', value: 0 },
    ],
    [{ put: key, value: cluster.value(key, rec) }],
  );
  if (!r.succeeded) {
    if (await cluster.get(key)) throw conflict(`${email} is already a collaborator on ${appName}`);
    throw conflict(`${appName} or ${email} changed meanwhile; try again`);
  }
  return rec;
}

export async function removeCollaborator(cluster: Cluster, appName: string, email: string): Promise<Collaborator> {
  const k = cluster.keys;
  const c = isUserName(email) ? await cluster.get(k.collaborator(appName, email)) : undefined;
  if (!c) throw notFound(`${email} is not a collaborator on ${appName}; list them with \`dynomesh access -a ${appName}\``);
  await cluster.delete(c.key);
  return c.value;
}

/**
 * Gives the app to another account in one transaction: the new owner stops being
 * a collaborator, the old owner becomes one (as Heroku does), so nobody is locked out.
 *
 *   keys:    apps/{app}, collaborators/{app}/{recipient} (deleted), collaborators/{app}/{old owner} (put)
 *   compare: the app's mod revision is what we read, users/{recipient} exists
 *   result:  the old and new owner; on a lost race it is read again
 */
export async function transferApp(cluster: Cluster, appName: string, recipient: string, by: string): Promise<{ from: string; to: string; id: string }> {
  const k = cluster.keys;
  return retryTxn(cluster, `${appName} kept changing while transferring it; try again`, async () => {
    const [a, u] = await Promise.all([cluster.get(k.app(appName)), findUser(cluster, recipient)]);
    if (!a) throw appNotFound(appName);
    if (!u) throw notFound(`no user ${recipient}; an admin adds accounts with \`dynomesh users:add ${recipient}\``);
    const from = a.value.owner;
    if (a.value.ownerIsUser && from === recipient) throw invalid(`${recipient} owns ${appName} already`);
    const next: App = { ...a.value, owner: recipient, ownerIsUser: true };
    const ops = [
      { put: a.key, value: cluster.value(k.app(appName), next) },
      { del: k.collaborator(appName, recipient) },
    ];
    if (a.value.ownerIsUser && isUserName(from) && (await findUser(cluster, from))) {
      const key = k.collaborator(appName, from);
      ops.push({ put: key, value: cluster.value(key, { app: appName, user: from, createdAt: Date.now(), by }) });
    }
    return {
      compares: [{ key: a.key, target: 'mod', op: '==', value: a.modRevision }, { key: k.user(recipient), target: 'create', op: '!=', value: 0 }],
      ops,
      result: { from, to: recipient, id: randomUUID() },
    };
  });
}
