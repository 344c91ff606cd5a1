/**
 * `--workers N`: N uWS apps on one port in worker threads, fed by the main
 * thread's single etcd watch. Real etcd, real backends, a real router process:
 * both workers take connections, a change in etcd reaches every worker, the
 * admin port sums the workers' counters, request lines still reach the log,
 * and SIGTERM drains every worker.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from '../../cluster/client.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { WebSocket } from 'ws';
import { addApp, addEndpoint, get, metrics, nameOf, startBackend, startRouter, type Backend, type RouterProc } from './helpers.ts';

const etcd = useEtcd();

describe('router --workers 2', () => {
  let cluster: Cluster;
  let router: RouterProc;
  const backends: Backend[] = [];

  before(async () => {
    cluster = etcd.cluster();
    backends.push(...(await Promise.all(['w1', 'w2'].map(startBackend))));
    await addApp(cluster, 'multi');
    await addEndpoint(cluster, 'multi', 'web.1', backends[0]!.port);
    router = await startRouter(cluster, ['--workers', '2', '--drain-timeout', '5s']);
  });
  after(async () => {
    await router?.stop('SIGKILL');
    await Promise.all(backends.map((b) => b.kill()));
  });

  test('both workers serve the same port, with the same table; counters are summed on the admin port', async () => {
    assert.equal(router.logs.find((r) => r.msg === 'router-listening')?.workers, 2);
    // a fresh connection per request, so SO_REUSEPORT spreads them over both workers
    const N = 60;
    for (let i = 0; i < N; i++) {
      const r = await get(router.port, 'multi.localhost', '/', { agent: false });
      assert.equal(r.status, 200);
      assert.equal(nameOf(r), 'w1');
      assert.equal(r.headers['x-forwarded-port'] ?? JSON.parse(r.body).headers['x-forwarded-port'], String(router.port));
    }
    const m = await metrics(router.adminPort);
    assert.ok(m.get('dynomesh_router_requests_total{class="2xx"}')! >= N);
    const w1 = m.get('dynomesh_router_worker_requests_total{worker="1"}')!;
    const w2 = m.get('dynomesh_router_worker_requests_total{worker="2"}')!;
    assert.equal(w1 + w2, m.get('dynomesh_router_requests_total{class="2xx"}'));
    assert.ok(w1 > 0 && w2 > 0, `both workers served (worker 1: ${w1}, worker 2: ${w2})`);
    assert.equal(m.get('dynomesh_router_route_table_endpoints'), 1);
    assert.equal(m.get('dynomesh_router_etcd_connected'), 1);
  });

  test('an etcd change reaches every worker', async () => {
    await addEndpoint(cluster, 'multi', 'web.1', backends[1]!.port);
    await eventually(async () => {
      // every one of 20 fresh connections (spread over both workers) must see the move
      for (let i = 0; i < 20; i++) if (nameOf(await get(router.port, 'multi.localhost', '/', { agent: false })) !== 'w2') return false;
      return true;
    }, 10_000, 'the moved endpoint in both workers');
    assert.equal((await get(router.port, 'nope.localhost', '/', { agent: false })).status, 404);
  });

  test('request lines from the workers reach the router log in the Heroku format', async () => {
    await eventually(() => router.lines().some((l) => /^at=info method=GET path="\/" host=multi\.localhost .* dyno=web\.1 .* status=200 /.test(l)), 5000, 'a request line');
    await eventually(() => router.lines().some((l) => /^at=info .* host=nope\.localhost .* status=404 /.test(l)), 5000, 'the 404 line');
  });

  test('WebSocket upgrades work on every worker (several connections, echo both ways)', async () => {
    for (let i = 0; i < 6; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${router.port}/chat`, { headers: { host: 'multi.localhost' }, perMessageDeflate: false });
      const messages: string[] = [];
      ws.on('message', (d: Buffer) => messages.push(d.toString()));
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      await eventually(() => messages.length >= 1, 5000, 'hello from the dyno');
      assert.equal((JSON.parse(messages[0]!) as { name: string }).name, 'w2');
      ws.send(`ping-${i}`);
      await eventually(() => messages.length >= 2, 5000, 'echo');
      assert.equal(messages[1], `ping-${i}`);
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      ws.send('close-me');
      assert.equal(await closed, 4000);
    }
  });

  test('SIGTERM drains every worker: in-flight requests finish, new connections are refused, exit 0', async () => {
    const slow = [1, 2, 3, 4].map(() => get(router.port, 'multi.localhost', '/slow?ms=1500', { agent: false }));
    await eventually(async () => (await metrics(router.adminPort)).get('dynomesh_router_in_flight') === 4, 5000, '4 requests in flight');
    const exited = router.stop('SIGTERM');
    await eventually(() => router.logs.some((r) => r.msg === 'router-draining'), 5000, 'draining');
    await eventually(async () => {
      try {
        await get(router.port, 'multi.localhost', '/', { agent: false });
        return false;
      } catch (err) {
        return /ECONNREFUSED/.test((err as Error).message);
      }
    }, 3000, 'new connections refused');
    for (const r of await Promise.all(slow)) {
      assert.equal(r.status, 200);
      assert.equal(nameOf(r), 'w2');
    }
    assert.equal(await exited, 0);
  });
});
