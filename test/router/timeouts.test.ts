/**
 * Dyno misbehaviour through a real router: a dyno that never answers (H12 with a
 * short --first-byte-timeout), one that closes without a response (H13), one that
 * dies mid-response (H18, client sees a cut connection), one that goes quiet
 * mid-response (H15 after --idle-timeout); each is counted once in the router's
 * metrics, and the router keeps serving. Every test stands alone: it counts from
 * what the metrics said when it began.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from '../../cluster/client.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { addApp, addEndpoint, get, metrics, nameOf, startBackend, startRouter, type Backend, type RouterProc } from './helpers.ts';

const etcd = useEtcd();

describe('timeouts and broken dynos', () => {
  let cluster: Cluster;
  let router: RouterProc;
  let backend: Backend;

  before(async () => {
    cluster = etcd.cluster();
    backend = await startBackend('t1');
    await addApp(cluster, 'slow');
    await addEndpoint(cluster, 'slow', 'web.1', backend.port);
    router = await startRouter(cluster, ['--first-byte-timeout', '600ms', '--idle-timeout', '2s', '--forwarded-proto', 'https', '--forwarded-port', '443']);
  });
  after(async () => {
    await router?.stop();
    await backend?.kill();
  });

  const errors = async (code: string) => (await metrics(router.adminPort)).get(`dynomesh_router_errors_total{code="${code}"}`) ?? 0;

  test('a dyno that never answers: H12 503 after the first-byte timeout', async () => {
    const before = await errors('H12');
    const t0 = Date.now();
    const r = await get(router.port, 'slow.localhost', '/hang', { agent: false });
    const took = Date.now() - t0;
    assert.equal(r.status, 503);
    assert.match(r.body, /Application error/);
    assert.ok(took >= 550 && took < 3000, `answered after ${took} ms`);
    await eventually(() => router.lines().some((l) => /^at=error code=H12 desc="Request timeout" method=GET path="\/hang" .* dyno=web\.1 .* status=503 /.test(l)), 5000, 'H12 line');
    // a slow answer inside the limit is fine
    assert.equal(nameOf(await get(router.port, 'slow.localhost', '/slow?ms=300')), 't1');
    assert.equal(await errors('H12'), before + 1);
  });

  test('a dyno that closes without answering: H13 503', async () => {
    const before = await errors('H13');
    const r = await get(router.port, 'slow.localhost', '/close', { agent: false });
    assert.equal(r.status, 503);
    await eventually(() => router.lines().some((l) => l.startsWith('at=error code=H13 desc="Connection closed without response') && l.includes('path="/close"')), 5000, 'H13 line');
    assert.equal(await errors('H13'), before + 1);
  });

  test('a dyno that dies mid-response: the client connection is cut (H18)', async () => {
    const before = await errors('H18');
    await assert.rejects(get(router.port, 'slow.localhost', '/half', { agent: false }), /aborted|socket hang up|ECONNRESET/);
    await eventually(() => router.lines().some((l) => l.startsWith('at=error code=H18') && l.includes('path="/half"')), 5000, 'H18 line');
    assert.equal(await errors('H18'), before + 1);
  });

  test('a dyno that goes quiet mid-response: cut after the idle timeout (H15)', async () => {
    const before = await errors('H15');
    const t0 = Date.now();
    await assert.rejects(get(router.port, 'slow.localhost', '/stall', { agent: false }), /aborted|socket hang up|ECONNRESET/);
    const took = Date.now() - t0;
    assert.ok(took >= 1900 && took < 5000, `cut after ${took} ms`);
    await eventually(() => router.lines().some((l) => l.startsWith('at=error code=H15 desc="Idle connection"') && l.includes('path="/stall"')), 5000, 'H15 line');
    assert.equal(await errors('H15'), before + 1);
  });

  test('the router serves behind a TLS load balancer, with nothing left in flight', async () => {
    const r = await get(router.port, 'slow.localhost');
    assert.equal(nameOf(r), 't1');
    const seen = JSON.parse(r.body) as { headers: Record<string, string> };
    assert.equal(seen.headers['x-forwarded-proto'], 'https', 'behind a TLS load balancer (--forwarded-proto)');
    assert.equal(seen.headers['x-forwarded-port'], '443');
    // In flight: none once every earlier request (broken or not) has been answered or cut.
    await eventually(async () => (await metrics(router.adminPort)).get('dynomesh_router_in_flight') === 0, 5000, 'in_flight 0');
  });
});
