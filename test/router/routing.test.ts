/**
 * Routing through a real router process, real etcd and real backend processes:
 * by Host (domain record and <app>.<base-domain>), endpoints added and removed
 * live, unknown hosts, maintenance (H80), no web dynos (H14), headers added.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from '../../cluster/client.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { addApp, addEndpoint, get, metrics, nameOf, raw, startBackend, startRouter, type Backend, type RouterProc } from './helpers.ts';

const etcd = useEtcd();

describe('routing by Host', () => {
  let cluster: Cluster;
  let router: RouterProc;
  const backends: Backend[] = [];

  before(async () => {
    cluster = etcd.cluster();
    backends.push(...(await Promise.all(['a1', 'b1', 'b2'].map(startBackend))));
    await addApp(cluster, 'alpha');
    await addApp(cluster, 'beta', { affinity: 'random' });
    await addEndpoint(cluster, 'alpha', 'web.1', backends[0]!.port);
    await addEndpoint(cluster, 'beta', 'web.1', backends[1]!.port);
    await cluster.put(cluster.keys.domain('www.alpha.test'), { app: 'alpha' });
    router = await startRouter(cluster, ['--base-domain', 'apps.test']);
  });
  after(async () => {
    await router?.stop();
    await Promise.all(backends.map((b) => b.kill()));
  });

  test('<app>.<base-domain> and exact domains reach their app', async () => {
    assert.equal(nameOf(await get(router.port, 'alpha.apps.test')), 'a1');
    assert.equal(nameOf(await get(router.port, 'ALPHA.apps.test:80')), 'a1');
    assert.equal(nameOf(await get(router.port, 'www.alpha.test')), 'a1');
    assert.equal(nameOf(await get(router.port, 'beta.apps.test')), 'b1');
  });

  test('a client\'s Connection: close is answered with Connection: close, once, and the socket closes', async () => {
    for (const host of ['alpha.apps.test', 'nope.apps.test']) {
      const { reply, closed } = await raw(router.port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      assert.match(reply, /^HTTP\/1\.1 (200|404) /);
      assert.equal(reply.split('\r\n\r\n')[0]!.match(/^connection: close$/gim)?.length, 1, reply);
      assert.ok(closed, `${host}: the router closes after the response`);
    }
  });

  test('unknown host answers 404 with a page', async () => {
    const r = await get(router.port, 'nope.apps.test');
    assert.equal(r.status, 404);
    assert.match(r.body, /No such app/);
    const r2 = await get(router.port, 'x.y.apps.test');
    assert.equal(r2.status, 404);
  });

  test('an endpoint added in etcd gets traffic, a removed one stops, without restart', async () => {
    await addEndpoint(cluster, 'beta', 'web.2', backends[2]!.port);
    await eventually(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) seen.add(nameOf(await get(router.port, 'beta.apps.test')));
      return seen.has('b2') && seen.has('b1');
    }, 10_000, 'web.2 to get traffic');
    await cluster.delete(cluster.keys.endpoint('n1', 'beta', 'web.1'));
    await eventually(async () => {
      for (let i = 0; i < 5; i++) if (nameOf(await get(router.port, 'beta.apps.test')) !== 'b2') return false;
      return true;
    }, 10_000, 'web.1 to stop getting traffic');
    for (let i = 0; i < 50; i++) assert.equal(nameOf(await get(router.port, 'beta.apps.test')), 'b2');
  });

  test('forwarding headers: X-Forwarded-*, X-Request-Start, Via, X-Request-Id kept or replaced; hop-by-hop stripped', async () => {
    const before = Date.now();
    const r = await get(router.port, 'alpha.apps.test', '/h?q=1', {
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-request-id': 'abcdefghij0123456789-+/=', 'keep-alive': 'timeout=5', 'x-hop': '1', connection: 'keep-alive, x-hop', te: 'trailers' },
    });
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/h?q=1');
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-forwarded-port'], String(router.port));
    assert.equal(seen.headers['x-request-id'], 'abcdefghij0123456789-+/=');
    assert.equal(seen.headers.via, '1.1 dynomesh');
    assert.equal(seen.headers.host, 'alpha.apps.test');
    const start = Number(seen.headers['x-request-start']);
    assert.ok(start >= before - 5 && start <= Date.now(), `x-request-start ${start}`);
    assert.equal(seen.headers['x-hop'], undefined);
    assert.equal(seen.headers['keep-alive'], undefined);
    assert.equal(seen.headers.te, undefined);
    assert.equal(r.headers['x-backend'], 'a1');

    for (const bad of ['short', 'x'.repeat(201), 'has spaces in it here!!', 'abcdefghij0123456789;']) {
      const s = JSON.parse((await get(router.port, 'alpha.apps.test', '/', { headers: { 'x-request-id': bad } })).body) as { headers: Record<string, string> };
      assert.notEqual(s.headers['x-request-id'], bad);
      assert.match(s.headers['x-request-id']!, /^[A-Za-z0-9+/=-]{20,200}$/);
    }
    const s = JSON.parse((await get(router.port, 'alpha.apps.test')).body) as { headers: Record<string, string> };
    assert.equal(s.headers['x-forwarded-for'], '127.0.0.1');
  });

  test('one Heroku-style log line per request', async () => {
    await get(router.port, 'alpha.apps.test', '/logged', { headers: { 'x-request-id': 'log-line-test-0123456789' } });
    const line = await eventually(() => router.lines().find((l) => l.includes('request_id=log-line-test-0123456789')), 5000, 'log line');
    assert.match(line, /^at=info method=GET path="\/logged" host=alpha\.apps\.test request_id=log-line-test-0123456789 fwd="127\.0\.0\.1" dyno=web\.1 connect=\d+ms service=\d+ms status=200 bytes=\d+ protocol=http$/);
  });

  test('maintenance mode answers H80 503; an app without web dynos H14 503', async () => {
    await addApp(cluster, 'alpha', { maintenance: true });
    await eventually(async () => (await get(router.port, 'alpha.apps.test')).status === 503, 5000, 'maintenance');
    const r = await get(router.port, 'alpha.apps.test');
    assert.match(r.body, /Maintenance/);
    await eventually(() => router.lines().some((l) => l.startsWith('at=error code=H80 desc="Maintenance mode"')), 5000, 'H80 line');
    await addApp(cluster, 'alpha');
    await eventually(async () => (await get(router.port, 'alpha.apps.test')).status === 200, 5000, 'maintenance off');

    await addApp(cluster, 'gamma');
    await eventually(async () => (await get(router.port, 'gamma.apps.test')).status === 503, 5000, 'H14');
    await eventually(() => router.lines().some((l) => l.startsWith('at=error code=H14 desc="No web processes running"') && l.includes('host=gamma.apps.test')), 5000, 'H14 line');
  });

  test('HEAD, chunked responses and POST bodies pass through', async () => {
    const h = await get(router.port, 'alpha.apps.test', '/bytes?n=10', { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.body, '');
    assert.equal(h.headers['content-length'], '10');
    const c = await get(router.port, 'alpha.apps.test', '/bytes?n=70000&chunked=1');
    assert.equal(c.body.length, 70_000);
    assert.equal(c.headers['transfer-encoding'], 'chunked');
    const p = await get(router.port, 'alpha.apps.test', '/count', { method: 'POST', body: 'x'.repeat(100_000) });
    assert.equal(JSON.parse(p.body).bytes, 100_000);
  });

  test('metrics on the admin port', async () => {
    // Its own traffic, whatever ran before: one answered request, and one H14 from an app of its own without web dynos.
    await addApp(cluster, 'metered');
    await eventually(async () => (await get(router.port, 'metered.apps.test')).status === 503, 5000, 'H14 for metered');
    assert.equal((await get(router.port, 'www.alpha.test')).status, 200);
    const before = await metrics(router.adminPort);
    assert.equal((await get(router.port, 'metered.apps.test')).status, 503);
    assert.equal((await get(router.port, 'www.alpha.test')).status, 200);
    const m = await metrics(router.adminPort);
    const grew = (name: string) => m.get(name)! - (before.get(name) ?? 0);
    assert.equal(grew('dynomesh_router_requests_total{class="2xx"}'), 1);
    assert.equal(grew('dynomesh_router_requests_total{class="5xx"}'), 1);
    assert.equal(m.get('dynomesh_router_etcd_connected'), 1);
    const routable = (await cluster.list(cluster.keys.routing())).entries.filter((e) => e.kind === 'routingApp').length;
    assert.equal(m.get('dynomesh_router_route_table_apps'), routable);
    assert.equal(m.get('dynomesh_router_in_flight'), 0);
    assert.ok(m.has('dynomesh_router_route_table_age_seconds'));
    assert.ok(m.has('dynomesh_router_retries_total'));
    assert.ok(m.has('dynomesh_router_upstream_connect_errors_total'));
  });
});
