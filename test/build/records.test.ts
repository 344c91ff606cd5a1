/** Build records on a real etcd: the cross-instance "one build per app" rule, stale builds, pruning. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Build } from '../../cluster/records.ts';
import { Session } from '../../cluster/session.ts';
import { claimBuild, failOrphanedBuilds, listBuilds, pruneBuilds } from '../../control/build/records.ts';
import { useEtcd } from '../support/etcd.ts';

const etcd = useEtcd();

const build = (app: string, id: string, over: Partial<Build> = {}): Build => ({
  id, app, status: 'pending', commit: 'a'.repeat(40), buildpack: '', slug: null, release: null,
  createdAt: Date.now(), finishedAt: null, user: 'u', control: 'c1', ...over,
});

describe('build records', () => {
  test('of two builds claimed at once (two control instances), exactly the later one backs off', async () => {
    const cluster = etcd.cluster();
    await cluster.put(cluster.keys.member('c1'), { id: 'c1', api: 'http://127.0.0.1:1', startedAt: Date.now() });
    await cluster.put(cluster.keys.member('c2'), { id: 'c2', api: 'http://127.0.0.1:2', startedAt: Date.now() });
    for (let round = 0; round < 5; round++) {
      const app = `race${round}`;
      const [a, b] = await Promise.all([
        claimBuild(cluster, build(app, 'a', { control: 'c1' }), 60_000),
        claimBuild(cluster, build(app, 'b', { control: 'c2' }), 60_000),
      ]);
      assert.equal([a, b].filter((x) => x === undefined).length, 1, 'one claim wins');
      const left = await listBuilds(cluster, app);
      assert.equal(left.length, 1, 'the loser removed its record');
      assert.equal((a ?? b)!.id, left[0]!.value.id, 'the loser names the running build');
    }
  });

  test('a pending build of a control instance that is gone, or older than the limit, does not block', async () => {
    const cluster = etcd.cluster();
    const session = await Session.create(cluster, 30);
    await session.put(cluster.keys.member('alive'), { id: 'alive', api: 'http://127.0.0.1:1', startedAt: Date.now() });
    await cluster.put(cluster.keys.build('app', 'dead-ctl'), build('app', 'dead-ctl', { control: 'gone' }));
    await cluster.put(cluster.keys.build('app', 'too-old'), build('app', 'too-old', { control: 'alive', createdAt: Date.now() - 120_000 }));
    assert.equal(await claimBuild(cluster, build('app', 'new', { control: 'alive' }), 60_000), undefined);
    const byId = Object.fromEntries((await listBuilds(cluster, 'app')).map((e) => [e.value.id, e.value]));
    assert.equal(byId['dead-ctl']!.status, 'failed');
    assert.equal(byId['too-old']!.status, 'failed');
    assert.equal(byId.new!.status, 'pending');
    // A live, recent pending build does block.
    const other = await claimBuild(cluster, build('app', 'second', { control: 'alive' }), 60_000);
    assert.equal(other?.id, 'new');
    await session.close();
  });

  test('at start, an instance fails only its own pending builds; pruning keeps the newest', async () => {
    const cluster = etcd.cluster();
    await cluster.put(cluster.keys.app('p'), { name: 'p', createdAt: 1, owner: 'u', stack: 'dynomesh-1', buildpacks: [] });
    await cluster.put(cluster.keys.build('p', 'mine'), build('p', 'mine', { control: 'me' }));
    await cluster.put(cluster.keys.build('p', 'theirs'), build('p', 'theirs', { control: 'other' }));
    assert.equal(await failOrphanedBuilds(cluster, 'me'), 1);
    const s = Object.fromEntries((await listBuilds(cluster, 'p')).map((e) => [e.value.id, e.value.status]));
    assert.deepEqual(s, { mine: 'failed', theirs: 'pending' });

    for (let i = 0; i < 6; i++) await cluster.put(cluster.keys.build('q', `b${i}`), build('q', `b${i}`, { status: 'succeeded', createdAt: 1000 + i }));
    const gone = await pruneBuilds(cluster, 'q', 4);
    assert.deepEqual(gone.map((b) => b.id), ['b0', 'b1']);
    assert.deepEqual((await listBuilds(cluster, 'q')).map((e) => e.value.id), ['b2', 'b3', 'b4', 'b5']);
  });
});
