/**
 * A leader cut off from etcd stops leading: the other instance takes over within
 * 5 s, the old leader's fenced writes fail, and after the partition heals it
 * rejoins as a follower.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { Cluster, EntryOf } from '../../cluster/client.ts';
import { peerToken } from '../../cluster/sealed.ts';
import { deployRelease } from '../../control/releases.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { SimNode, startControl } from './support.ts';

const etcd = useEtcd();

describe('leader partitioned from etcd', () => {
  let cluster: Cluster;
  let proxy: TcpProxy;
  let a: Awaited<ReturnType<typeof startControl>>;
  let b: Awaited<ReturnType<typeof startControl>>;
  let node: SimNode;

  before(async () => {
    cluster = etcd.cluster();
    const url = new URL(etcd.server.endpoint);
    proxy = await new TcpProxy(url.hostname, Number(url.port)).start();
    a = await startControl(etcd, cluster, { cluster: { endpoints: [proxy.url], prefix: cluster.keys.prefix, callTimeoutMs: 1500 }, id: 'a' });
    await eventually(() => a.control.leadership?.isLeader, 10_000, 'a leads');
    b = await startControl(etcd, cluster, { id: 'b', clusterKeyPath: a.control.opts.clusterKeyPath });
    node = await SimNode.start(cluster, 'n1');
  });

  after(async () => {
    proxy.heal();
    await node?.kill();
    await b?.stop();
    await a?.stop();
    await proxy?.close();
  });

  test('the follower takes over, the old leader stops writing and rejoins as follower', async () => {
    await b.api('POST', '/apps', { name: 'part' });
    await deployRelease(b.control.ctx, 'part', { slug: { id: 'd'.repeat(64), sha256: 'd'.repeat(64), size: 1 }, processTypes: { web: 'x' }, author: 't' });
    await eventually(async () => (await cluster.list(cluster.keys.placementsOf('n1'))).entries.length === 1, 10_000, 'placed by a');
    assert.equal(b.control.leadership?.isLeader, false);

    const t0 = Date.now();
    proxy.cut();
    await eventually(() => b.control.leadership?.isLeader, 5_000, 'b leads');
    console.log(`# follower leads ${Date.now() - t0} ms after the leader was cut off`);
    await b.api('PATCH', '/apps/part/formation/web', { quantity: 3 });
    await eventually(async () => (await cluster.list(cluster.keys.placementsOf('n1'))).entries.length === 3, 10_000, 'b reconciles');
    await eventually(() => !a.control.leadership?.isLeader, 10_000, 'a notices it lost its lease');
    // cut off from etcd, its API refuses clearly instead of hanging or guessing
    const refused = await a.api('PATCH', '/apps/part/config-vars', { X: '1' });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.id, 'unavailable');
    assert.match(refused.body.message, /etcd/);

    proxy.heal();
    await eventually(async () => {
      const m = await cluster.list(cluster.keys.members());
      return m.entries.length === 2;
    }, 15_000, 'a registered again after the partition');
    assert.equal(a.control.leadership?.isLeader, false);
    assert.equal(b.control.leadership?.isLeader, true);
    // the healed instance serves the API with the state b wrote
    const f = await a.api('GET', '/apps/part/formation');
    assert.equal(f.body[0].quantity, 3);
    const placements = (await cluster.list(cluster.keys.placementsOf('n1'))).entries as EntryOf<'placement'>[];
    assert.deepEqual(placements.map((p) => p.value.dyno).sort(), ['web.1', 'web.2', 'web.3']);
  });

  test('a slug stored on one member is served by any member (fetched from its peer once, then kept)', async () => {
    const stored = await a.control.ctx.slugs.put(Readable.from([Buffer.from('slug built on a')]));
    assert.equal(await b.control.ctx.slugs.has(stored.sha256), false);
    const headers = { authorization: `Bearer ${peerToken(b.control.ctx.clusterKey)}` };
    const res = await fetch(`${b.control.url}/internal/slugs/${stored.sha256}`, { headers });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'slug built on a');
    assert.equal(await b.control.ctx.slugs.has(stored.sha256), true);
    const local = await fetch(`${b.control.url}/internal/slugs/${'e'.repeat(64)}?local=1`, { headers });
    assert.equal(local.status, 404);
  });
});
