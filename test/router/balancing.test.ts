/**
 * The balancer through real routers: the same key reaches the same dyno via two
 * routers; bounded loads spreads one hot key once its dyno is over the bound;
 * killing a backend loses no GET (connect failures retry on the next dyno).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from '../../cluster/client.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { addApp, addEndpoint, get, metrics, nameOf, startBackend, startRouter, type Backend, type RouterProc } from './helpers.ts';

const etcd = useEtcd();

describe('consistent hashing with bounded loads', () => {
  let cluster: Cluster;
  let r1: RouterProc;
  let r2: RouterProc;
  const backends: Backend[] = [];

  before(async () => {
    cluster = etcd.cluster();
    backends.push(...(await Promise.all(['d1', 'd2', 'd3', 'd4'].map(startBackend))));
    await addApp(cluster, 'shop', { affinity: 'header:x-user' });
    for (let i = 0; i < 4; i++) await addEndpoint(cluster, 'shop', `web.${i + 1}`, backends[i]!.port);
    await addApp(cluster, 'hot', { affinity: 'header:x-user', balanceFactor: 1.25 });
    for (let i = 0; i < 3; i++) await addEndpoint(cluster, 'hot', `web.${i + 1}`, backends[i]!.port);
    [r1, r2] = await Promise.all([startRouter(cluster), startRouter(cluster)]);
  });
  after(async () => {
    await Promise.all([r1?.stop(), r2?.stop()]);
    await Promise.all(backends.map((b) => b.kill()));
  });

  test('the same key reaches the same dyno through two routers, and keys spread over dynos', async () => {
    const spread = new Map<string, number>();
    for (let u = 0; u < 60; u++) {
      const headers = { 'x-user': `user-${u}` };
      const a = nameOf(await get(r1.port, 'shop.localhost', '/', { headers }));
      const b = nameOf(await get(r2.port, 'shop.localhost', '/', { headers }));
      const again = nameOf(await get(r1.port, 'shop.localhost', '/', { headers }));
      assert.equal(a, b, `user-${u}: router 1 chose ${a}, router 2 chose ${b}`);
      assert.equal(a, again);
      spread.set(a, (spread.get(a) ?? 0) + 1);
    }
    assert.equal(spread.size, 4, `60 keys should reach all 4 dynos: ${JSON.stringify([...spread])}`);
  });

  test('a hot key stays on one dyno while it is under its bound, and spreads once over it', async () => {
    const headers = { 'x-user': 'the-hot-one' };
    const owner = nameOf(await get(r1.port, 'hot.localhost', '/', { headers }));
    for (let i = 0; i < 10; i++) assert.equal(nameOf(await get(r1.port, 'hot.localhost', '/', { headers })), owner);

    // 12 concurrent slow requests for one key: bound = ceil(1.25 * 12 / 3) = 5 per dyno at most.
    const replies = await Promise.all(Array.from({ length: 12 }, () => get(r1.port, 'hot.localhost', '/slow?ms=400', { headers })));
    const counts = new Map<string, number>();
    for (const r of replies) counts.set(nameOf(r), (counts.get(nameOf(r)) ?? 0) + 1);
    assert.ok(counts.size >= 2, `the hot key should spill to other dynos: ${JSON.stringify([...counts])}`);
    assert.ok(Math.max(...counts.values()) <= 5, `no dyno over ceil(c * mean): ${JSON.stringify([...counts])}`);
    assert.ok((counts.get(owner) ?? 0) >= 4, `the key's own dyno still takes its share: ${JSON.stringify([...counts])}`);
  });

  test('killing a backend: 1000 GETs, zero failures, while the others remain', async () => {
    const victim = backends[3]!;
    let failures = 0;
    const seen = new Map<string, number>();
    let killed = false;
    for (let i = 0; i < 1000; i++) {
      if (i === 100) {
        await victim.kill('SIGKILL');
        killed = true;
      }
      const r = await get(r1.port, 'shop.localhost', '/', { headers: { 'x-user': `k-${i % 97}` } });
      if (r.status !== 200) failures++;
      else if (killed) seen.set(nameOf(r), (seen.get(nameOf(r)) ?? 0) + 1);
    }
    assert.equal(failures, 0);
    assert.equal(seen.get('d4'), undefined, 'no answer from the killed dyno');
    assert.equal(seen.size, 3);
    const m = await metrics(r1.adminPort);
    assert.ok(m.get('dynomesh_router_upstream_connect_errors_total')! >= 1, 'the failed connect is counted');
    assert.ok(m.get('dynomesh_router_retries_total')! >= 1, 'and retried');
    // The endpoint record is still in etcd (its node lease would remove it): the router keeps it quarantined.
    await cluster.delete(cluster.keys.endpoint('n1', 'shop', 'web.4'));
    await eventually(async () => (await metrics(r1.adminPort)).get('dynomesh_router_route_table_endpoints') === 6, 5000, 'endpoint removal');
  });

  test('every dyno refusing: bounded tries, then 503', async () => {
    await addApp(cluster, 'dead');
    for (let i = 1; i <= 3; i++) await addEndpoint(cluster, 'dead', `web.${i}`, backends[3]!.port); // the killed backend's port
    await eventually(async () => (await get(r2.port, 'dead.localhost')).status === 503, 5000, 'dead app answers 503');
    const r = await get(r2.port, 'dead.localhost');
    assert.equal(r.status, 503);
    await eventually(() => r2.lines().some((l) => /^at=error code=H10 desc="App crashed"/.test(l) && l.includes('host=dead.localhost')), 5000, 'H10 line');
  });
});
