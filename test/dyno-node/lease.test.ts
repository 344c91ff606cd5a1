/**
 * A partition from etcd longer than the lease TTL: the node's endpoints vanish
 * (routers stop sending), the dyno keeps running, and when etcd is reachable
 * again the agent registers on a new lease and re-publishes the endpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../cluster/client.ts';
import { useEtcd, eventually } from '../support/etcd.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { makeSlug, place, putRelease, WEB_APP } from './fixtures.ts';
import { startAgent } from './harness.ts';
import { endpointOf, statusOf } from '../support/dyno-keys.ts';

const etcd = useEtcd();

test('lease lost in a partition: endpoint withdrawn, dyno kept, re-registered and re-published after', { timeout: 90_000 }, async () => {
  const direct = etcd.cluster();
  const proxy = await new TcpProxy('127.0.0.1', Number(new URL(etcd.server.endpoint).port)).start();
  const viaProxy = new Cluster({ endpoints: [proxy.url], prefix: direct.keys.prefix, callTimeoutMs: 1000 });
  const h = await startAgent(viaProxy, { leaseTtlSeconds: 2 });
  try {
    const s = await makeSlug({ Procfile: 'web: node server.js\n', 'server.js': WEB_APP });
    h.slugs.add(s);
    await putRelease(direct, h.key, 'part', 1, s.slug, { web: 'node server.js' });
    await place(direct, h.nodeId, { app: 'part', dyno: 'web.1', release: 1 });
    const ep = await eventually(() => endpointOf(direct, 'part', 'web.1'), 20_000, 'endpoint');
    const { pid } = (await (await fetch(`http://127.0.0.1:${ep.value.port}/`)).json()) as { pid: number };

    proxy.cut();
    await eventually(async () => !(await endpointOf(direct, 'part', 'web.1')), 15_000, 'endpoint expired with the lease');
    assert.equal(await direct.get(direct.keys.node(h.nodeId)), undefined, 'node record expired too');
    assert.equal(((await (await fetch(`http://127.0.0.1:${ep.value.port}/`)).json()) as { pid: number }).pid, pid, 'dyno still running');

    proxy.heal();
    const back = await eventually(() => endpointOf(direct, 'part', 'web.1'), 20_000, 'endpoint re-published');
    assert.notEqual(back.lease, ep.lease, 'on a new lease');
    assert.equal(back.value.port, ep.value.port, 'same dyno');
    const node = await eventually(() => direct.get(direct.keys.node(h.nodeId)), 10_000, 'node re-registered');
    assert.equal(node.lease, back.lease);
    const st = await eventually(() => statusOf(direct, 'part', 'web.1'), 10_000, 'status re-published');
    assert.equal(st.value.state, 'up');
    // Placements flow again (and etcd3 holds no half-made watcher that would retry forever after the test).
    await eventually(() => h.agent.watching, 15_000, 'placements watch reconnected');
    await place(direct, h.nodeId, { app: 'part', dyno: 'web.2', release: 1 });
    await eventually(() => endpointOf(direct, 'part', 'web.2'), 20_000, 'a new placement is served after the partition');
  } finally {
    proxy.heal();
    await h.stop();
    viaProxy.close();
    await proxy.close();
  }
});
