/**
 * API tokens. The plaintext (`dm_` + 43 base64url chars) is shown once; etcd
 * holds only its sha256 under `tokens/{sha256}`. The first control to start on an
 * empty cluster creates the admin token and prints it.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Cluster, EntryOf } from '../cluster/client.ts';
import type { Token } from '../cluster/records.ts';
import { invalid, notFound } from './errors.ts';

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

export function newTokenValue(): string {
  return `dm_${randomBytes(32).toString('base64url')}`;
}

/** Looks a presented token up; undefined when unknown or revoked. */
export async function verifyToken(cluster: Cluster, token: string): Promise<Token | undefined> {
  if (token.length < 16 || token.length > 512) return undefined;
  return (await cluster.get(cluster.keys.token(hashToken(token))))?.value;
}

export async function createToken(
  cluster: Cluster,
  opts: { name: string; user: string; admin: boolean; value?: string },
): Promise<{ token: string; record: Token }> {
  const token = opts.value ?? newTokenValue();
  if (token.length < 16) throw invalid('a token must be at least 16 characters long');
  const record: Token = { id: randomUUID(), name: opts.name, user: opts.user, admin: opts.admin, createdAt: Date.now() };
  const key = cluster.keys.token(hashToken(token));
  const r = await cluster.txn([{ key, target: 'create', op: '==', value: 0 }], [{ put: key, value: cluster.value(key, record) }]);
  if (!r.succeeded) throw invalid('that token already exists');
  return { token, record };
}

export async function listTokens(cluster: Cluster): Promise<EntryOf<'token'>[]> {
  const all = await cluster.list(cluster.keys.tokens());
  return all.entries.filter((e): e is EntryOf<'token'> => e.kind === 'token').sort((a, b) => a.value.createdAt - b.value.createdAt);
}

/** Revokes by id (what the API shows); the token stops working at once on every instance. */
export async function revokeToken(cluster: Cluster, id: string): Promise<Token> {
  const found = (await listTokens(cluster)).find((e) => e.value.id === id);
  if (!found) throw notFound(`no token with id ${id}; list them with \`dynomesh authorizations\``);
  await cluster.delete(found.key);
  return found.value;
}

/**
 * On an empty cluster, creates the admin token (`bootstrap` when given, e.g. from
 * DYNOMESH_BOOTSTRAP_TOKEN) and returns its plaintext; otherwise undefined.
 */
export async function ensureAdminToken(cluster: Cluster, bootstrap?: string): Promise<string | undefined> {
  if ((await listTokens(cluster)).length > 0) return undefined;
  try {
    const { token } = await createToken(cluster, { name: 'admin (created on first start)', user: 'admin', admin: true, ...(bootstrap ? { value: bootstrap } : {}) });
    return token;
  } catch {
    return undefined; // another instance created the same bootstrap token first
  }
}
