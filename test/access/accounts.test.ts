/**
 * Accounts against real etcd and a real control plane: the one-time migration of
 * a cluster from before accounts, failed-auth rate limiting (429, Retry-After,
 * logged without the token), an open log tail cut when access goes, removing
 * users, and domains that cannot be taken from another app.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster } from '../../cluster/client.ts';
import type { App, Token } from '../../cluster/records.ts';
import { ACCOUNTS_MIGRATION } from '../../control/access/migrate.ts';
import { hashToken } from '../../control/tokens.ts';
import { ADMIN, client, startControl } from '../control/support.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { spawnControl, ADMIN as BUILD_ADMIN } from '../build/support.ts';
import { must, people, type People } from './fixture.ts';

const etcd = useEtcd();

describe('the accounts-v1 migration of a cluster from before accounts', () => {
  test('token users get accounts, old apps go to the admin, once, by the leader', async () => {
    const cluster = etcd.cluster();
    const k = cluster.keys;
    const CI = 'dm_legacy-ci-token-0123456789abcdef';
    const token = (user: string, admin: boolean): Token => ({ id: `${user}-id`, name: user, user, admin, createdAt: Date.now() });
    await cluster.put(k.token(hashToken(ADMIN)), token('admin', true));
    await cluster.put(k.token(hashToken(CI)), token('ci', false));
    const legacy = (name: string, owner: string): App => ({ name, owner, createdAt: Date.now(), stack: 'dynomesh-1', buildpacks: [] });
    await cluster.put(k.app('old1'), legacy('old1', 'ci'));
    await cluster.put(k.app('old2'), legacy('old2', 'someone-gone'));

    let ctl = await startControl(etcd, cluster);
    try {
      const marker = await eventually(() => cluster.get(k.migration(ACCOUNTS_MIGRATION)), 10_000, 'migration marker');
      assert.equal(marker.value.summary, 'accounts created: 2; apps given to admin: 2');
      assert.equal((await cluster.get(k.user('admin')))?.value.admin, true);
      assert.equal((await cluster.get(k.user('ci')))?.value.admin, false);
      for (const a of ['old1', 'old2']) assert.deepEqual([(await cluster.get(k.app(a)))?.value.owner, (await cluster.get(k.app(a)))?.value.ownerIsUser], ['admin', true]);
      // The old non-admin token still works, and now sees only what it may.
      assert.deepEqual((await client(ctl.control.url, CI)('GET', '/apps')).body, []);
      assert.deepEqual((await ctl.api('GET', '/apps')).body.map((a: { name: string; owner: { email: string } }) => [a.name, a.owner.email]), [['old1', 'admin'], ['old2', 'admin']]);
      assert.equal((await client(ctl.control.url, CI)('GET', '/apps/old1')).status, 404);
    } finally {
      await ctl.stop();
    }

    // A later leader does not run it again: an app written in the old shape now stays as it is.
    const before = await cluster.get(k.migration(ACCOUNTS_MIGRATION));
    await cluster.put(k.app('old3'), legacy('old3', 'ci'));
    ctl = await startControl(etcd, cluster);
    try {
      await eventually(() => ctl.control.leadership?.isLeader, 10_000, 'leader');
      await ctl.control.leadership!.migrated;
      assert.equal((await cluster.get(k.migration(ACCOUNTS_MIGRATION)))?.modRevision, before!.modRevision);
      const old3 = (await cluster.get(k.app('old3')))!.value;
      assert.deepEqual([old3.owner, old3.ownerIsUser], ['ci', undefined]);
      // An owner that is not an account name is trusted by nobody but admins.
      assert.equal((await client(ctl.control.url, CI)('GET', '/apps/old3')).status, 404);
      assert.equal((await ctl.api('GET', '/apps/old3')).status, 200);
    } finally {
      await ctl.stop();
    }
  });
});

describe('failed authentication', () => {
  test('rate limited per address with 429 and Retry-After; logged without the token', async () => {
    const cluster = etcd.cluster();
    const ctl = await spawnControl(etcd, cluster.keys.prefix, ['--isolation', 'off']);
    try {
      const guess = 'dm_guessing-0123456789abcdefghijklmnop';
      const statuses: number[] = [];
      for (let i = 0; i < 22; i++) statuses.push((await fetch(`${ctl.url}/apps`, { headers: { authorization: `Bearer ${guess}` } })).status);
      assert.deepEqual(statuses.slice(0, 20), Array(20).fill(401));
      assert.deepEqual(statuses.slice(20), [429, 429]);
      const limited = await fetch(`${ctl.url}/apps`, { headers: { authorization: `Bearer ${BUILD_ADMIN}` } });
      assert.equal(limited.status, 429, 'even a good token gets no answer from a limited address');
      const wait = Number(limited.headers.get('retry-after'));
      assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
      assert.equal((await limited.json()).id, 'rate_limited');
      // Basic auth for git too.
      const git = await fetch(`${ctl.url}/x.git/info/refs?service=git-upload-pack`, { headers: { authorization: `Basic ${Buffer.from(`git:${guess}`).toString('base64')}` } });
      assert.equal(git.status, 429);
      // No credentials at all is not a failed login (git asks without them first).
      assert.equal((await fetch(`${ctl.url}/apps`)).status, 401);

      const log = readFileSync(join(ctl.dir, 'control.log'), 'utf8');
      assert.equal(log.split('\n').filter((l) => l.includes('"auth-failed"')).length, 20);
      assert.ok(!log.includes(guess) && !log.includes(guess.slice(3, 20)), 'the token is not logged');
      // The admin token appears once, in the first start's "shown once" line on stdout, and in no log line.
      assert.equal(log.split(BUILD_ADMIN).length - 1, 1);
    } finally {
      await ctl.stop();
    }
  });
});

describe('accounts and access', () => {
  let cluster: Cluster;
  let p: People;
  before(async () => {
    cluster = etcd.cluster();
    p = await people(etcd, cluster);
    await p.app('alpha');
  });
  after(async () => {
    await p?.ctl.stop();
  });

  test("a collaborator's open log tail ends within a second or two of access:remove", async (t) => {
    const res = await fetch(`${p.ctl.control.url}/apps/alpha/logs?tail=true&lines=1`, { headers: { authorization: `Bearer ${p.tokens.collaborator}` } });
    assert.equal(res.status, 200);
    const reading = (async () => {
      try {
        for await (const _ of res.body!) { /* keep reading until the server ends it */ }
      } catch {
        /* a cut stream */
      }
      return Date.now();
    })();
    await new Promise((r) => setTimeout(r, 300));
    const removedAt = Date.now();
    await must(p.as('owner')('DELETE', '/apps/alpha/collaborators/bob@example.com'), 200, 'remove bob');
    const endedAt = await Promise.race([reading, new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
    assert.ok(endedAt > 0, 'the tail was not cut');
    assert.ok(endedAt - removedAt < 2500, `cut after ${endedAt - removedAt} ms`);
    t.diagnostic(`tail cut ${endedAt - removedAt} ms after access:remove was sent`);
    await must(p.as('owner')('POST', '/apps/alpha/collaborators', { user: 'bob@example.com' }), 201, 'bob back');
  });

  test('a log session URL stops working when its creator loses access', async () => {
    const made = await must(p.as('collaborator')('POST', '/apps/alpha/log-sessions', { lines: 5 }), 201, 'session');
    const url = made.body.logplex_url as string;
    assert.equal((await fetch(url)).status, 200);
    await must(p.as('owner')('DELETE', '/apps/alpha/collaborators/bob@example.com'), 200, 'remove bob');
    assert.equal((await fetch(url)).status, 404);
    await must(p.as('owner')('POST', '/apps/alpha/collaborators', { user: 'bob@example.com' }), 201, 'bob back');
    assert.equal((await fetch(url)).status, 200, 'back with access');

    // Revoking the token that made it ends it too.
    const ci = await must(p.as('collaborator')('POST', '/oauth/authorizations', { description: 'logs' }), 201, 'token');
    const ciUrl = (await must(client(p.ctl.control.url, ci.body.access_token.token)('POST', '/apps/alpha/log-sessions', { lines: 5 }), 201, 'session')).body.logplex_url as string;
    assert.equal((await fetch(ciUrl)).status, 200);
    await must(p.as('collaborator')('DELETE', `/oauth/authorizations/${ci.body.id}`), 200, 'revoke');
    assert.equal((await fetch(ciUrl)).status, 404);
  });

  test('users:remove: refused while they own apps or are the last admin; else their tokens stop at once', async () => {
    const admin = p.ctl.api;
    assert.equal((await admin('DELETE', '/users/alice@example.com')).status, 409);
    assert.equal((await admin('DELETE', '/users/admin')).status, 409);
    const dave = await must(admin('POST', '/users', { email: 'dave@example.com' }), 201, 'dave');
    const asDave = client(p.ctl.control.url, dave.body.token.access_token.token);
    await must(p.as('owner')('POST', '/apps/alpha/collaborators', { user: 'dave@example.com' }), 201, 'dave joins');
    assert.equal((await asDave('GET', '/apps/alpha')).status, 200);
    await must(admin('DELETE', '/users/dave@example.com'), 200, 'remove dave');
    assert.equal((await asDave('GET', '/apps')).status, 401);
    assert.equal(await cluster.get(cluster.keys.collaborator('alpha', 'dave@example.com')), undefined, 'collaboration gone');
    assert.equal((await admin('POST', '/users', { email: 'not an email' })).status, 422);
    assert.equal((await admin('POST', '/users', { email: 'bob@example.com' })).status, 409);
  });

  test('tokens: scope and app checked at creation; a user sees and revokes only their own', async () => {
    const bob = p.as('collaborator');
    assert.equal((await bob('POST', '/oauth/authorizations', { scope: ['everything'] })).status, 422);
    assert.equal((await bob('POST', '/oauth/authorizations', { expires_in: -5 })).status, 422);
    assert.equal((await bob('POST', '/oauth/authorizations', { scope: ['deploy'], app: 'beta' })).status, 404, 'not his app');
    const ci = await must(bob('POST', '/oauth/authorizations', { scope: ['deploy'], app: 'alpha', description: 'ci' }), 201, 'deploy token');
    assert.deepEqual([ci.body.scope, ci.body.app], [['deploy'], { name: 'alpha' }]);
    const mine = (await bob('GET', '/oauth/authorizations')).body as { id: string; description: string }[];
    assert.ok(mine.some((t) => t.id === ci.body.id));
    assert.ok(!(await p.as('owner')('GET', '/oauth/authorizations')).body.some((t: { id: string }) => t.id === ci.body.id), "alice does not see bob's tokens");
    assert.equal((await p.as('owner')('DELETE', `/oauth/authorizations/${ci.body.id}`)).status, 404);
    assert.equal((await bob('DELETE', `/oauth/authorizations/${ci.body.id}`)).status, 200);
  });

  test("domains: another app's custom domain and names under the base domain are refused", async () => {
    await must(p.as('owner')('POST', '/apps/alpha/domains', { hostname: 'www.alpha.example' }), 201, 'alpha domain');
    const carol = p.as('other');
    await must(carol('POST', '/apps', { name: 'gamma' }), 201, 'carol app');
    const before = await cluster.revision();
    const taken = await carol('POST', '/apps/gamma/domains', { hostname: 'WWW.alpha.example.' });
    assert.equal(taken.status, 409);
    assert.doesNotMatch(taken.body.message, /alpha\b(?!\.example)/, 'the other app is not named');
    for (const hostname of ['alpha.localhost', 'gamma.localhost', 'x.y.localhost', 'localhost']) {
      assert.equal((await carol('POST', '/apps/gamma/domains', { hostname })).status, 422, hostname);
    }
    assert.equal((await carol('DELETE', '/apps/gamma/domains/www.alpha.example')).status, 404);
    assert.equal((await carol('DELETE', '/apps/alpha/domains/www.alpha.example')).status, 404);
    assert.equal(await cluster.revision(), before, 'nothing changed');
    assert.equal((await cluster.get(cluster.keys.domain('www.alpha.example')))?.value.app, 'alpha');
  });
});
