/**
 * The leader's cron on a real etcd with an injected clock: a tick runs once, as a
 * scheduler.N placement written with the job's lastTick; a deposed leader's run is
 * refused by its fence; the next leader runs the tick that fell meanwhile, once, and
 * passes over older ticks (counted), never running them in a burst.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Cluster, Compare, EntryOf } from '../../cluster/client.ts';
import { seal } from '../../cluster/sealed.ts';
import { CronRunner, dueTick, jobId } from '../../control/cron/runner.ts';
import { logger } from '../../lib/log.ts';
import { useEtcd } from '../support/etcd.ts';

const etcd = useEtcd();
const at = (hhmmss: string) => Date.parse(`2026-12-03T${hhmmss}Z`);
const JOB = { command: 'bin/report', schedule: '* * * * *' };

async function seed(c: Cluster, app: string): Promise<void> {
  const k = c.keys;
  const now = at('11:00:00');
  await c.put(k.app(app), { name: app, createdAt: now, owner: 'admin', stack: 'dynomesh-1', buildpacks: [] });
  await c.put(k.current(app), { version: 1 });
  await c.put(k.formation(app), { types: {} });
  await c.put(k.release(app, 1), {
    app, version: 1, slug: { id: 'a'.repeat(64), sha256: 'a'.repeat(64), size: 1 }, processTypes: { web: 'x' },
    config: seal(randomBytes(32), {}), description: 'Deploy', author: 'admin', createdAt: now, cron: [JOB],
  });
  await c.put(k.node('n1'), { id: 'n1', address: '127.0.0.1', memoryMb: 4096, labels: {}, slugs: [], startedAt: now, agentVersion: 't' });
}

describe('cron runner', () => {
  test('once per tick, fenced across a leader change', async () => {
    const c = etcd.cluster();
    const k = c.keys;
    await seed(c, 'tick');
    // Each "leader" holds while its marker key exists (as Election.leaderCompare holds while its candidate key does).
    const fence = (name: string): (() => Compare) => () => ({ key: k.migration(name), target: 'create', op: '!=', value: 0 });
    for (const n of ['leader-a', 'leader-b']) await c.put(k.migration(n), { name: n, doneAt: 0, by: 't', summary: 'fence' });
    let now = at('12:00:30');
    const log = logger('test', {});
    const a = new CronRunner(c, fence('leader-a'), log, { now: () => now });
    const b = new CronRunner(c, fence('leader-b'), log, { now: () => now, catchUpMs: 3 * 60_000 });
    const runs = async () => (await c.list(k.placements())).entries.filter((e) => (e.value as { type: string }).type === 'scheduler').map((e) => (e as EntryOf<'placement'>).value);
    const job = async () => (await c.get(k.cron('tick')))!.value.jobs[jobId(JOB)]!;

    await a.pass(); // first seen: no tick before now runs
    assert.deepEqual(await runs(), []);
    assert.equal((await job()).since, at('12:00:30'));

    now = at('12:01:01');
    await a.pass();
    await a.pass(); // the same tick again: nothing
    let r = await runs();
    assert.equal(r.length, 1);
    assert.match(r[0]!.dyno, /^scheduler\.\d+$/);
    assert.deepEqual([r[0]!.command, r[0]!.attach, r[0]!.release], ['bin/report', false, 1]);
    assert.equal((await job()).lastTick, at('12:01:00'));

    // A is deposed; the 12:02 tick falls before B leads.
    await c.delete(k.migration('leader-a'));
    now = at('12:02:00');
    await a.pass();
    assert.equal((await runs()).length, 1, 'the deposed leader placed nothing');
    now = at('12:02:04');
    await b.pass();
    await b.pass();
    r = await runs();
    assert.equal(r.length, 2, 'the new leader ran the missed tick once');
    assert.equal((await job()).lastTick, at('12:02:00'));

    // B was away for five ticks: only the latest runs; the others are counted as passed over.
    now = at('12:08:10');
    await b.pass();
    assert.equal((await runs()).length, 3);
    const j = await job();
    assert.deepEqual([j.lastTick, j.skipped], [at('12:08:00'), 5]);
  });

  test('dueTick: the latest tick in (after, now]', () => {
    assert.equal(dueTick('*/5 * * * *', at('12:00:00'), at('12:04:59')), undefined);
    assert.equal(dueTick('*/5 * * * *', at('12:00:00'), at('12:05:00')), at('12:05:00'));
    assert.equal(dueTick('*/5 * * * *', at('12:00:00'), at('12:17:00')), at('12:15:00'));
  });
});
