import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Cluster } from '../../cluster/client.ts';
import { NotLeaderError } from '../../cluster/errors.ts';
import { Election } from '../../cluster/election.ts';
import { Session } from '../../cluster/session.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

const etcd = useEtcd();
const member = (id: string) => ({ id, api: `http://127.0.0.1:1/${id}`, startedAt: Date.now() });

describe('sessions', () => {
  test('closing a session deletes its keys at once', async () => {
    const c = etcd.cluster();
    const s = await Session.create(c, 10);
    await s.put(c.keys.member('m1'), member('m1'));
    assert.ok(await c.get(c.keys.member('m1')));
    await s.close();
    assert.equal(await c.get(c.keys.member('m1')), undefined);
  });

  test('a holder cut off from etcd past its TTL loses its keys and hears `lost`', async () => {
    const c = etcd.cluster();
    const proxy = await new TcpProxy('127.0.0.1', etcd.server.clientPort).start();
    const far = new Cluster({ endpoints: [proxy.url], prefix: c.keys.prefix, callTimeoutMs: 1000 });
    const s = await Session.create(far, 2);
    await s.put(c.keys.member('m2'), member('m2'));
    let lostAt = 0;
    s.on('lost', () => (lostAt = Date.now()));
    const cutAt = Date.now();
    proxy.cut();
    await eventually(async () => (await c.get(c.keys.member('m2'))) === undefined, 8000, 'the key to expire with the lease');
    const expiredAfter = Date.now() - cutAt;
    assert.ok(expiredAfter >= 1000, `expired after ${expiredAfter} ms, not before the TTL`);
    await eventually(() => lostAt > 0, 10_000, 'the lost event');
    assert.ok(s.lost);
    proxy.heal();
    far.close();
    await proxy.close();
  });
});

function candidate(endpoint: string, prefix: string, id: string, ttl: number) {
  const file = fileURLToPath(new URL('./fixtures/candidate.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', file, endpoint, prefix, id, String(ttl)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = { child, text: '' };
  child.stdout!.on('data', (d) => (out.text += String(d)));
  return out;
}

const kill = (c: ChildProcess) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : (c.once('exit', r), c.kill('SIGKILL'))));

describe('leader election', () => {
  test('of two processes exactly one leads; the other takes over within seconds of a kill -9', async () => {
    const c = etcd.cluster();
    const a = candidate(etcd.server.endpoint, c.keys.prefix, 'a', 2);
    try {
      await eventually(() => a.text.includes('leader a'), 15_000, 'a to lead');
      const b = candidate(etcd.server.endpoint, c.keys.prefix, 'b', 2);
      try {
        await eventually(() => b.text.includes('candidate b'), 15_000, 'b to campaign');
        await new Promise((r) => setTimeout(r, 1000));
        assert.ok(!b.text.includes('leader b'), 'b must not lead while a does');
        const killedAt = Date.now();
        await kill(a.child);
        await eventually(() => b.text.includes('leader b'), 10_000, 'b to take over');
        const takeover = Date.now() - killedAt;
        assert.ok(takeover < 6000, `took over after ${takeover} ms`);
      } finally {
        await kill(b.child);
      }
    } finally {
      await kill(a.child);
    }
  });

  test('a waiting candidate that resigns stops waiting; campaigning again on the same session takes the new value', async () => {
    const c = etcd.cluster();
    const s1 = await Session.create(c, 10);
    const s2 = await Session.create(c, 10);
    const e1 = new Election(c, s1);
    const e2 = new Election(c, s2);
    await e1.campaign('one');
    const waiting = e2.campaign('two').then(() => 'elected', (err: unknown) => err);
    await new Promise((r) => setTimeout(r, 100));
    await e2.resign();
    assert.ok((await waiting) instanceof NotLeaderError, 'the campaign ends with NotLeaderError');
    assert.equal(await e1.leader(), 'one');
    await e1.campaign('one-again');
    assert.equal(await e1.leader(), 'one-again', 'the same key, guarded by its create revision, takes the new value');
    await e1.resign();
    await s1.close();
    await s2.close();
  });

  test('resign hands over at once, and the old leader\'s fenced writes fail', async () => {
    const c = etcd.cluster();
    const s1 = await Session.create(c, 10);
    const s2 = await Session.create(c, 10);
    const e1 = new Election(c, s1);
    const e2 = new Election(c, s2);
    await e1.campaign('one');
    const observed: (string | undefined)[] = [];
    e2.on('leader', (l) => observed.push(l));
    await e2.observe();
    let second = false;
    const p2 = e2.campaign('two').then(() => (second = true));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(second, false);
    assert.equal(await e1.leader(), 'one');

    const fence = e1.leaderCompare();
    const key = c.keys.domain('fenced.example.com');
    assert.equal((await c.txn([fence], [{ put: key, value: c.value(key, { app: 'x' }) }])).succeeded, true);
    await e1.resign();
    await p2;
    assert.equal(await e2.leader(), 'two');
    assert.equal((await c.txn([fence], [{ del: key }])).succeeded, false, 'a deposed leader cannot write');
    await eventually(() => observed.at(-1) === 'two', 5000, 'observers to see the new leader');
    await e2.close();
    await s1.close();
    await s2.close();
  });
});
