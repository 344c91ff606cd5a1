/**
 * Dyno usage on real etcd, without daemons: month splitting, the agent's meter
 * (open at start, end at exit, idempotent across an agent restart, dead runs
 * ended at the last beat), the leader's closer (ended runs become intervals; a
 * lost node's runs stop at its lease expiry, not if the node came back) and
 * the monthly sums.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Cluster } from '../../cluster/client.ts';
import type { UsageOpen } from '../../cluster/records.ts';
import { closeRun, monthOf, splitByMonth } from '../../cluster/usage.ts';
import { UsageMeter, type MeteredRun } from '../../dyno-node/usage.ts';
import { UsageCloser } from '../../control/usage/closer.ts';
import { accountUsage, appUsage } from '../../control/usage/report.ts';
import { eventually, useEtcd } from '../support/etcd.ts';

const etcd = useEtcd();
const log = pino({ level: process.env.DYNOMESH_LOG_LEVEL ?? 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const run = (id: string, dyno = 'web.1', type = 'web', size = 'standard-1x') => {
  const r = { id, state: 'preparing', placement: { app: 'hello', dyno, type, size } };
  return r as MeteredRun & { state: string };
};
const move = (m: UsageMeter, r: MeteredRun & { state: string }, state: string) => {
  r.state = state;
  m.onChange(r);
};
const opens = async (c: Cluster) => (await c.list(c.keys.usageOpens())).entries.map((e) => e.value as UsageOpen);
const intervals = async (c: Cluster) => (await c.list(c.keys.usage())).entries.map((e) => e.value as { run: string; start: number; end: number; closedBy: string });

describe('usage', () => {
  test('a run across a month end is split at it', () => {
    const open: UsageOpen = { app: 'a', dyno: 'web.1', type: 'web', size: 'standard-1x', node: 'n1', run: 'v1-x', start: Date.UTC(2026, 10, 30, 23, 59, 0) };
    const parts = splitByMonth(open, Date.UTC(2026, 11, 1, 0, 1, 0), 'node');
    assert.deepEqual(parts.map((p) => [monthOf(p.start), (p.end - p.start) / 1000]), [['2026-11', 60], ['2026-12', 60]]);
    assert.equal(splitByMonth(open, open.start - 5, 'node').length, 1);
  });

  test('the meter opens a run when its process runs and closes it at exit; an agent restart counts nothing twice', async () => {
    const c = etcd.cluster();
    const dir = mkdtempSync(join(tmpdir(), 'dm-usage-'));
    const m1 = new UsageMeter(c, 'n1', join(dir, 'alive'), log);
    const r = run('v1-aaaa');
    move(m1, r, 'preparing');
    await sleep(50);
    assert.equal((await opens(c)).length, 0, 'nothing counted before the process runs');
    const t0 = Date.now();
    move(m1, r, 'starting');
    move(m1, r, 'up');
    await eventually(async () => (await opens(c)).length === 1, 5000, 'open');
    await m1.stop(); // the agent goes; the dyno keeps running
    // The next agent process adopts it: same run id, the start it was opened with.
    const m2 = new UsageMeter(c, 'n1', join(dir, 'alive'), log);
    await m2.sweep(new Set([r.id]));
    await sleep(300);
    m2.adopt(r);
    await sleep(100);
    const [o] = await opens(c);
    assert.ok(Math.abs(o!.start - t0) < 100, 'the start is kept');
    move(m2, r, 'exited');
    const t1 = Date.now();
    const ended = await eventually(async () => (await opens(c)).find((x) => x.end !== undefined), 5000, 'ended');
    assert.ok(Math.abs((ended.end! - ended.start) - (t1 - t0)) < 150);
    // The leader moves it into the month's intervals.
    const closer = new UsageCloser(c, log);
    closer.start();
    await eventually(async () => (await opens(c)).length === 0, 5000, 'closed');
    await closer.stop();
    const ivs = await intervals(c);
    assert.equal(ivs.length, 1);
    assert.ok(Math.abs((ivs[0]!.end - ivs[0]!.start) - (t1 - t0)) < 150, `billed ${ivs[0]!.end - ivs[0]!.start} ms of ${t1 - t0}`);
    assert.equal(ivs[0]!.closedBy, 'node');
    await m2.stop();
  });

  test('a run that ended while no agent ran is closed at the last beat of the previous agent', async () => {
    const c = etcd.cluster();
    const dir = mkdtempSync(join(tmpdir(), 'dm-usage-'));
    const start = Date.now() - 60_000;
    const open: UsageOpen = { app: 'hello', dyno: 'run.1', type: 'run', size: 'standard-1x', node: 'n1', run: 'v1-dead', start };
    await c.put(c.keys.usageOpen('n1', open.run), open);
    writeFileSync(join(dir, 'alive'), String(start + 20_000));
    const m = new UsageMeter(c, 'n1', join(dir, 'alive'), log);
    await m.sweep(new Set());
    const [o] = await opens(c);
    assert.equal(o!.end! - o!.start, 20_000);
    await m.stop();
  });

  test('a lost node\'s runs stop counting when its node record goes (lease expiry), not if the node is back', async () => {
    const c = etcd.cluster();
    const closer = new UsageCloser(c, log);
    const start = Date.now() - 10_000;
    for (const [node, id] of [['n1', 'v1-lost'], ['n2', 'v1-back']] as const) {
      await c.put(c.keys.usageOpen(node, id), { app: 'hello', dyno: 'web.1', type: 'web', size: 'standard-1x', node, run: id, start });
    }
    const lease = c.etcd.lease(1, { autoKeepAlive: false });
    const leaseId = String(await lease.grant());
    await c.put(c.keys.node('n1'), { id: 'n1', address: '127.0.0.1', memoryMb: 1, labels: {}, slugs: [], startedAt: 0, agentVersion: 't' }, leaseId);
    await c.put(c.keys.node('n2'), { id: 'n2', address: '127.0.0.1', memoryMb: 1, labels: {}, slugs: [], startedAt: 0, agentVersion: 't' });
    // Started once the nodes are registered (as an agent registers before it opens runs): its first sweep must not see n2 gone.
    closer.start();
    await sleep(200);
    const expiredBy = Date.now() + 3000; // TTL 1 s; etcd expires leases within about a second after
    await eventually(async () => (await opens(c)).every((o) => o.node !== 'n1'), 10_000, 'n1 closed');
    const [iv] = await intervals(c);
    assert.equal(iv!.closedBy, 'lease');
    assert.ok(iv!.end <= expiredBy, 'closed at the expiry');
    // n2 is alive: a sweep leaves its running run alone, and closes the one its agent ended.
    const endedRev = await c.put(c.keys.usageOpen('n2', 'v1-ended'), { app: 'hello', dyno: 'run.1', type: 'run', size: 'standard-1x', node: 'n2', run: 'v1-ended', start, end: start + 4000 });
    assert.ok(endedRev > 0);
    await closer.sweep();
    assert.deepEqual((await opens(c)).map((o) => o.run), ['v1-back']);
    const ended = (await intervals(c)).find((i) => i.run === 'v1-ended')!;
    assert.equal(ended.end - ended.start, 4000);
    assert.equal(ended.closedBy, 'node');
    // The closer and an agent race on the same open run: exactly one closes it.
    const e = (await c.list(c.keys.usageOpens())).entries[0]!;
    const results = await Promise.all([closeRun(c, e.value as UsageOpen, e.modRevision, Date.now(), 'node'), closeRun(c, e.value as UsageOpen, e.modRevision, Date.now(), 'lease')]);
    assert.deepEqual(results.filter(Boolean).length, 1);
    await closer.stop();
  });

  test('a month\'s sums: closed intervals plus the open runs\' time so far, per type and size', async () => {
    const c = etcd.cluster();
    const now = Date.UTC(2026, 11, 3, 12, 0, 0);
    const base = { app: 'hello', node: 'n1', size: 'standard-1x' };
    // Each closed the way the agent closes a run: an open key, then closeRun on its revision.
    for (const [run, type, start, end] of [['v1-a', 'web', now - 7200_000, now - 3600_000], ['v1-b', 'worker', now - 1800_000, now - 900_000], ['v1-c', 'web', Date.UTC(2026, 10, 30, 23, 0, 0), Date.UTC(2026, 11, 1, 1, 0, 0)]] as const) {
      const rev = await c.put(c.keys.usageOpen('n1', run), { ...base, dyno: `${type}.1`, type, run, start });
      assert.ok(await closeRun(c, { ...base, dyno: `${type}.1`, type, run, start }, rev, end, 'node'));
    }
    await c.put(c.keys.usageOpen('n1', 'v1-open'), { ...base, app: 'hello', dyno: 'web.2', type: 'web', run: 'v1-open', start: now - 600_000 });
    await c.put(c.keys.usageOpen('n1', 'v1-other'), { ...base, app: 'other', dyno: 'web.1', type: 'web', run: 'v1-other', start: now - 60_000 });
    // Ended by its node, not moved yet: counted until its end.
    await c.put(c.keys.usageOpen('n1', 'v1-ended'), { ...base, app: 'other', dyno: 'run.1', type: 'run', run: 'v1-ended', start: now - 60_000, end: now - 30_000 });
    const u = await appUsage(c, 'hello', '2026-12', now);
    assert.deepEqual(u.lines, [
      { type: 'web', size: 'standard-1x', seconds: 3600 + 3600 + 600, dynoHours: 2.17 },
      { type: 'worker', size: 'standard-1x', seconds: 900, dynoHours: 0.25 },
    ]);
    assert.equal(u.totalSeconds, 8700);
    assert.equal((await appUsage(c, 'hello', '2026-11', now)).totalSeconds, 3600);
    const all = await accountUsage(c, '2026-12', now);
    assert.deepEqual(all.apps.map((a) => [a.app, a.totalSeconds]), [['hello', 8700], ['other', 90]]);
  });
});
