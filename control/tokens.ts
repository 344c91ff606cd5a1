/**
 * API tokens (Heroku's "authorizations"). The plaintext (`dm_` + 43 base64url
 * chars) is shown once; etcd holds only its sha256 under `tokens/{sha256}`.
 * A token acts as its user (`users/{user}`), within its scope, optionally for
 * one app and until an expiry. The first control to start on an empty cluster
 * creates the admin account and its token and prints it.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Cluster, EntryOf } from '../cluster/client.ts';
import type { Token, TokenScope, User } from '../cluster/records.ts';
import { invalid, notFound } from './errors.ts';

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

export function newTokenValue(): string {
  return `dm_${randomBytes(32).toString('base64url')}`;
}

/** Why a presented token does not work, for the 401 message and the failed-auth log line (never the token). */
export type TokenRefusal = 'unknown' | 'expired' | 'no-account';

/** Looks a presented token and its account up; a refusal when unknown, expired or its account is gone. */
export async function verifyToken(cluster: Cluster, token: string, now = Date.now()): Promise<{ token: Token; user: User } | { refused: TokenRefusal }> {
  if (token.length < 16 || token.length > 512) return { refused: 'unknown' };
  return verifyTokenHash(cluster, hashToken(token), now);
}

/** As `verifyToken`, by the token's sha256 (what a log session URL remembers). */
export async function verifyTokenHash(cluster: Cluster, hash: string, now = Date.now()): Promise<{ token: Token; user: User } | { refused: TokenRefusal }> {
  if (!/^[0-9a-f]{64}$/.test(hash)) return { refused: 'unknown' };
  const t = (await cluster.get(cluster.keys.token(hash)))?.value;
  if (!t) return { refused: 'unknown' };
  if (t.expiresAt !== undefined && t.expiresAt <= now) return { refused: 'expired' };
  const user = (await cluster.get(cluster.keys.user(t.user)).catch(() => undefined))?.value;
  if (!user) return { refused: 'no-account' };
  return { token: t, user };
}

export interface NewToken {
  name: string;
  user: string;
  /** Legacy flag kept on the record; rights come from the account. */
  admin?: boolean;
  value?: string;
  scope?: TokenScope;
  app?: string;
  expiresAt?: number;
}

/** The record and its etcd put, for callers that write it in their own transaction (users:add). */
export function tokenRecord(cluster: Cluster, opts: NewToken): { token: string; record: Token; key: ReturnType<Cluster['keys']['token']> } {
  const token = opts.value ?? newTokenValue();
  if (token.length < 16) throw invalid('a token must be at least 16 characters long');
  const record: Token = {
    id: randomUUID(), name: opts.name, user: opts.user, admin: opts.admin ?? false, createdAt: Date.now(),
    ...(opts.scope && opts.scope !== 'global' ? { scope: opts.scope } : {}),
    ...(opts.app ? { app: opts.app } : {}),
    ...(opts.expiresAt !== undefined ? { expiresAt: opts.expiresAt } : {}),
  };
  return { token, record, key: cluster.keys.token(hashToken(token)) };
}

/**
 * Creates a token for an existing account:
 *
 *   keys:    tokens/{sha256}
 *   compare: the token does not exist, users/{user} does
 *   result:  the token's plaintext and record; 422 when it exists, 404 without the account
 */
export async function createToken(cluster: Cluster, opts: NewToken): Promise<{ token: string; record: Token }> {
  const { token, record, key } = tokenRecord(cluster, opts);
  const r = await cluster.txn(
    [{ key, target: 'create', op: '==', value: 0 }, { key: cluster.keys.user(opts.user), target: 'create', op: '!=', value: 0 }],
    [{ put: key, value: cluster.value(key, record) }],
  );
  if (!r.succeeded) {
    if (await cluster.get(key)) throw invalid('that token already exists');
    throw notFound(`no user ${opts.user}; an admin adds accounts with \`dynomesh users:add ${opts.user}\``);
  }
  return { token, record };
}

export async function listTokens(cluster: Cluster): Promise<EntryOf<'token'>[]> {
  const all = await cluster.list(cluster.keys.tokens());
  return all.entries.filter((e): e is EntryOf<'token'> => e.kind === 'token').sort((a, b) => a.value.createdAt - b.value.createdAt);
}

/** Revokes by id (what the API shows) among `mine`; the token stops working at once on every instance. */
export async function revokeToken(cluster: Cluster, id: string, mine: (t: Token) => boolean): Promise<Token> {
  const found = (await listTokens(cluster)).find((e) => e.value.id === id && mine(e.value));
  if (!found) throw notFound(`no token with id ${id}; list them with \`dynomesh authorizations\``);
  await cluster.delete(found.key);
  return found.value;
}

export const ADMIN_USER = 'admin';

/**
 * On an empty cluster, creates the `admin` account and its token (`bootstrap` when
 * given, e.g. from DYNOMESH_BOOTSTRAP_TOKEN) in one transaction and returns the
 * token's plaintext; otherwise undefined. Clusters from before accounts get their
 * accounts from the leader's migration (`access/migrate.ts`).
 */
export async function ensureAdminToken(cluster: Cluster, bootstrap?: string): Promise<string | undefined> {
  if ((await listTokens(cluster)).length > 0) return undefined;
  const k = cluster.keys;
  const { token, record, key } = tokenRecord(cluster, { name: 'admin (created on first start)', user: ADMIN_USER, admin: true, ...(bootstrap ? { value: bootstrap } : {}) });
  const user: User = { email: ADMIN_USER, id: randomUUID(), admin: true, createdAt: Date.now(), createdBy: 'bootstrap' };
  // keys: tokens/{sha256}, users/admin; compare: neither exists (another instance may have
  // created the same bootstrap token or the admin first); result: the plaintext, or undefined.
  const r = await cluster.txn(
    [{ key, target: 'create', op: '==', value: 0 }, { key: k.user(ADMIN_USER), target: 'create', op: '==', value: 0 }],
    [{ put: key, value: cluster.value(key, record) }, { put: k.user(ADMIN_USER), value: cluster.value(k.user(ADMIN_USER), user) }],
  );
  return r.succeeded ? token : undefined;
}
