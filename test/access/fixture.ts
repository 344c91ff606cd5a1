/**
 * The people of the access tests, on an in-process control plane on real etcd:
 *   admin        the cluster's first account
 *   owner        alice@example.com, creates the apps
 *   collaborator bob@example.com, added to each app
 *   other        carol@example.com, an account with no access to alice's apps
 *   read         a read-scope token of alice
 *   deployOther  a deploy token of alice limited to another app of hers (beta)
 *   expired      a token of alice that has expired
 *   none         no token at all
 */
import assert from 'node:assert/strict';
import type { Cluster } from '../../cluster/client.ts';
import { ADMIN, client, startControl, type ApiResult } from '../control/support.ts';
import type { TestEtcd } from '../support/etcd.ts';

export const WHO = ['owner', 'collaborator', 'other', 'read', 'deployOther', 'expired', 'none', 'admin'] as const;
export type Who = (typeof WHO)[number];

export interface People {
  ctl: Awaited<ReturnType<typeof startControl>>;
  tokens: Record<Who, string | null>;
  as(who: Who): ReturnType<typeof client>;
  /** A fresh app owned by alice with bob as collaborator. */
  app(name: string): Promise<void>;
}

export async function must(r: Promise<ApiResult>, status: number, what: string): Promise<ApiResult> {
  const res = await r;
  assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
  return res;
}

export async function people(etcd: TestEtcd, cluster: Cluster): Promise<People> {
  const ctl = await startControl(etcd, cluster);
  const admin = ctl.api;
  const user = async (email: string) => (await must(admin('POST', '/users', { email }), 201, `users:add ${email}`)).body.token.access_token.token as string;
  const alice = await user('alice@example.com');
  const bob = await user('bob@example.com');
  const carol = await user('carol@example.com');
  const asAlice = client(ctl.control.url, alice);
  await must(asAlice('POST', '/apps', { name: 'beta' }), 201, 'alice creates beta');
  const token = async (body: object) => (await must(asAlice('POST', '/oauth/authorizations', body), 201, JSON.stringify(body))).body.access_token.token as string;
  const read = await token({ description: 'read', scope: ['read'] });
  const deployOther = await token({ description: 'ci for beta', scope: ['deploy'], app: 'beta' });
  const expired = await token({ description: 'short', expires_in: 1 });
  await new Promise((r) => setTimeout(r, 1100));
  const tokens: Record<Who, string | null> = { owner: alice, collaborator: bob, other: carol, read, deployOther, expired, none: null, admin: ADMIN };
  return {
    ctl,
    tokens,
    as: (who) => client(ctl.control.url, tokens[who]),
    async app(name) {
      await must(asAlice('POST', '/apps', { name }), 201, `alice creates ${name}`);
      await must(asAlice('POST', `/apps/${name}/collaborators`, { user: 'bob@example.com' }), 201, `bob joins ${name}`);
    },
  };
}
