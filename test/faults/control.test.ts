/**
 * Faults on the shared state and the control plane of a network-namespace
 * cluster, each under a bounded load loop through both routers:
 *  4. one etcd member of 3 dies (the raft leader): no user-visible error;
 *  5. one router is partitioned from etcd: it keeps serving its last table, heals and catches up;
 *  3. the control leader is killed during a `git push`: the push fails cleanly or
 *     completes, no half release, the other instance leads and reconciles.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { NetnsCluster } from '../../deploy/netns/cluster.ts';
import { loadClusterKey, peerToken } from '../../cluster/sealed.ts';
import { eventually } from '../support/etcd.ts';
import { git } from '../support/git.ts';
import { Load, api, deployedApp, remote, sleep, summary, waitEndpoints, type Repo } from './support.ts';

const APP = 'steady';
let c: NetnsCluster;
let repo: Repo;

async function releases() {
  const cl = c.client();
  try {
    const list = await cl.list(cl.keys.releases(APP));
    const cur = await cl.get(cl.keys.current(APP));
    return { versions: list.entries.map((e) => e.value as { version: number; slug: { sha256: string } | null }), current: cur?.value.version ?? 0 };
  } finally {
    cl.close();
  }
}

deployedApp(APP, (cluster, r) => {
  c = cluster;
  repo = r;
});

describe('etcd and control faults under load through both routers', () => {
  test('4. kill one etcd member of 3 (the raft leader): no user-visible error', async () => {
    const victim = await c.etcdLeader();
    assert.ok(victim, 'an etcd leader');
    const load = new Load(c, APP, { count: 6000, ms: 60_000 });
    const apiErrors: string[] = [];
    let apiCalls = 0;
    let polling = true;
    const poll = (async () => {
      for (let i = 0; polling && i < 400; i++) {
        for (const ctl of ['c1', 'c2']) {
          apiCalls++;
          const r = await api(c, 'GET', `/apps/${APP}`, undefined, ctl).catch((e: Error) => ({ status: 0, body: e.message }));
          if (r.status !== 200) apiErrors.push(`${ctl} ${r.status} ${JSON.stringify(r.body)}`);
        }
        await sleep(200);
      }
    })();
    await sleep(1500);
    const t0 = Date.now();
    await c.daemon(victim.name).kill();
    const newLeader = await eventually(async () => {
      const l = await c.etcdLeader();
      return l && l.name !== victim.name ? l : undefined;
    }, 20_000, 'a new etcd leader');
    const recovery = Date.now() - t0;
    // Writes go on: scale up and back down through the API while the member is down.
    for (const [q, ctl] of [[4, 'c2'], [3, 'c1']] as const) {
      apiCalls++;
      const r = await api(c, 'PATCH', `/apps/${APP}/formation/web`, { quantity: q }, ctl);
      if (r.status !== 200) apiErrors.push(`scale ${q}: ${r.status} ${JSON.stringify(r.body)}`);
      await waitEndpoints(c, APP, q);
    }
    await sleep(1500);
    polling = false;
    await poll;
    const r = await load.stop();
    summary('4 kill-etcd-member', r, recovery, `killed=${victim.name} new-leader=${newLeader.name} api-calls=${apiCalls} api-errors=${apiErrors.length}`);
    assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.failures.slice(0, 5))}`);
    assert.deepEqual(apiErrors, []);
    // The member comes back and catches up.
    await c.startHost(victim.name);
    await eventually(() => c.etcdHealthy(victim.name), 30_000, `${victim.name} healthy again`);
  });

  test('5. partition a router from etcd: it serves its last table, then heals and catches up', async () => {
    const [r1, r2] = c.routerAddrs as [string, string];
    const known = (await waitEndpoints(c, APP, 3)).map((e) => e.dyno);
    const load = new Load(c, APP, { count: 8000, ms: 90_000 });
    const seen = (router: string, dyno: string) => [...load.result.bodies.keys()].some((k) => k.startsWith(`${router} `) && k.endsWith(` on ${dyno}`));
    await sleep(1000);
    c.partition('r1', 'etcd', true);
    const cutAt = Date.now();
    let healedAt = 0;
    let newDyno = '';
    try {
      assert.equal((await api(c, 'PATCH', `/apps/${APP}/formation/web`, { quantity: 4 })).status, 200);
      newDyno = (await waitEndpoints(c, APP, 4)).map((e) => e.dyno).find((d) => !known.includes(d))!;
      // r2 routes to the new dyno at once; r1, cut off, keeps routing to the three it knows.
      await eventually(() => seen(r2, newDyno), 20_000, `r2 routing to ${newDyno}`);
      await sleep(8000); // well past the etcd client's call timeout (3 s): r1 knows etcd is gone, and still serves
      assert.ok(!seen(r1, newDyno), `r1 reached ${newDyno} while cut off from etcd`);
      healedAt = Date.now();
      c.partition('r1', 'etcd', false);
      await eventually(() => seen(r1, newDyno), 60_000, `r1 routing to ${newDyno} after the heal`);
    } finally {
      if (!healedAt) c.partition('r1', 'etcd', false);
    }
    const recovery = Date.now() - healedAt;
    // Caught up for removals too: scale back down, nothing fails.
    assert.equal((await api(c, 'PATCH', `/apps/${APP}/formation/web`, { quantity: 3 })).status, 200);
    await waitEndpoints(c, APP, 3);
    await sleep(2000);
    const r = await load.stop();
    summary('5 partition-router', r, recovery, `cut=${((healedAt - cutAt) / 1000).toFixed(1)}s`);
    assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.failures.slice(0, 5))}`);
  });

  test('3. kill the control leader during a git push: no half release, the other leads and reconciles', async () => {
    const leader = await eventually(() => c.leader(), 20_000, 'a control leader');
    const other = c.ofRole('control').find((h) => h.name !== leader.name)!;
    const before = await releases();
    const load = new Load(c, APP, { count: 12_000, ms: 150_000 });
    await repo.commit('v2');
    const pushing = git(repo.dir, ['push', remote(c, APP, leader.name), 'main'], 240_000);
    // Kill it mid-build: once the buildpack has started talking.
    const buildStatus = async (id?: string) => {
      const cl = c.client();
      try {
        const all = (await cl.list(cl.keys.builds(APP))).entries.map((e) => e.value as { id: string; status: string });
        return id ? all.find((b) => b.id === id) : all.find((b) => b.status === 'pending');
      } finally {
        cl.close();
      }
    };
    const build = await eventually(() => buildStatus(), 60_000, 'the build to start');
    const t0 = Date.now();
    await c.daemon(leader.name).kill();
    const push = await pushing;
    const took = await eventually(async () => ((await c.leader())?.name === other.name ? Date.now() - t0 : undefined), 20_000, `${other.name} leading`);
    const after = await releases();
    const outcome = push.code === 0 ? 'completed' : 'failed';
    if (push.code === 0) {
      assert.equal(after.current, before.current + 1, 'a completed push made exactly one release');
    } else {
      assert.match(push.stderr, /error|fatal|rejected|failed/i, 'the push says it failed');
      assert.ok(after.current === before.current || after.current === before.current + 1, 'at most the one release');
    }
    // No half release: current names a release whose slug the surviving instance serves.
    const cur = after.versions.find((v) => v.version === after.current);
    assert.ok(cur?.slug, `current v${after.current} exists with a slug`);
    const token = peerToken(loadClusterKey(join(c.dir, 'cluster.key')));
    const slug = await fetch(`${c.apiUrls[c.ofRole('control').indexOf(other)]}/internal/slugs/${cur.slug.sha256}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(slug.status, 200, `the slug of v${after.current} is served by ${other.name}`);
    await slug.arrayBuffer();
    // The new leader reconciles: every dyno on the current release, a scale goes through.
    await waitEndpoints(c, APP, 3, after.current);
    assert.equal((await api(c, 'PATCH', `/apps/${APP}/formation/web`, { quantity: 4 }, other.name)).status, 200);
    await waitEndpoints(c, APP, 4, after.current);
    const recovery = Date.now() - t0;
    // And a push to the survivor releases.
    await repo.commit('v3');
    const again = await git(repo.dir, ['push', '-q', remote(c, APP, other.name), 'main'], 240_000);
    assert.equal(again.code, 0, again.stderr);
    const final = await releases();
    assert.equal(final.current, after.current + 1);
    // The interrupted build is not left pending: finished, or failed as orphaned by the survivor.
    assert.notEqual((await buildStatus(build.id))?.status, 'pending', `build ${build.id} still pending`);
    await waitEndpoints(c, APP, 4, final.current);
    await sleep(1500);
    const r = await load.stop();
    summary('3 kill-control-leader-during-push', r, recovery, `push=${outcome} new-leader-after=${(took / 1000).toFixed(1)}s releases=v${before.current}->v${final.current}`);
    process.stdout.write(`  the interrupted push said: ${push.stderr.trim().split('\n').slice(-2).join(' | ')}\n`);
    assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.failures.slice(0, 5))}`);
  });
});
