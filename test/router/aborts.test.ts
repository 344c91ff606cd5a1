/**
 * Clients that go away at every stage (uWS aborts the process if a handler
 * mishandles this; see shared/reference/uws.md §5), and pipelining clients
 * (uWS aborts their connection while a response is pending, §9): the router
 * must survive all of it, free the dyno side, and keep serving.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Cluster } from '../../cluster/client.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { addApp, addEndpoint, get, metrics, nameOf, startBackend, startRouter, type Backend, type RouterProc } from './helpers.ts';

const etcd = useEtcd();

/** Sends `data`, waits for `afterBytes` of reply (or `ms`), then resets the connection. */
function hangUp(port: number, data: string | Buffer, opts: { afterBytes?: number; ms?: number; more?: Buffer } = {}): Promise<number> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = 0;
    const done = () => {
      s.resetAndDestroy();
      resolve(got);
    };
    s.on('error', () => undefined);
    s.on('data', (b: Buffer) => {
      got += b.length;
      if (opts.afterBytes !== undefined && got >= opts.afterBytes) done();
    });
    s.write(data);
    if (opts.more) s.write(opts.more);
    if (opts.ms !== undefined) setTimeout(done, opts.ms);
  });
}

describe('client aborts and pipelining', () => {
  let cluster: Cluster;
  let router: RouterProc;
  let backend: Backend;
  const head = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: ab.localhost\r\n${extra}\r\n`;

  before(async () => {
    cluster = etcd.cluster();
    backend = await startBackend('ab');
    await addApp(cluster, 'ab');
    await addEndpoint(cluster, 'ab', 'web.1', backend.port);
    router = await startRouter(cluster);
  });
  after(async () => {
    await router?.stop();
    await backend?.kill();
  });

  test('abort while the dyno has not answered: H27 499 logged, nothing left in flight', async () => {
    await hangUp(router.port, head('/hang'), { ms: 200 });
    await eventually(() => router.lines().some((l) => l.startsWith('at=error code=H27') && l.includes('path="/hang"') && l.includes('status=499')), 5000, 'H27 line');
    await eventually(async () => (await metrics(router.adminPort)).get('dynomesh_router_in_flight') === 0, 5000, 'in-flight back to 0');
  });

  test('abort mid-download of 200 MB, and mid-upload of 50 MB, repeatedly', async () => {
    for (let i = 0; i < 5; i++) {
      const got = await hangUp(router.port, head(`/bytes?n=${200 * 1024 * 1024}`), { afterBytes: 1024 * 1024 });
      assert.ok(got >= 1024 * 1024);
      await hangUp(router.port, `POST /count HTTP/1.1\r\nHost: ab.localhost\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\n`, { ms: 100, more: Buffer.alloc(4 * 1024 * 1024, 1) });
      await hangUp(router.port, `POST /count HTTP/1.1\r\nHost: ab.localhost\r\nTransfer-Encoding: chunked\r\n\r\n`, { ms: 50, more: Buffer.from('4000\r\n' + 'c'.repeat(0x4000) + '\r\n') });
    }
    await eventually(async () => (await metrics(router.adminPort)).get('dynomesh_router_in_flight') === 0, 10_000, 'in-flight back to 0');
    assert.equal(nameOf(await get(router.port, 'ab.localhost')), 'ab');
  });

  test('pipelined requests: the router survives (uWS closes the connection while a response is pending)', async () => {
    const reply = await new Promise<string>((resolve) => {
      const s = connect(router.port, '127.0.0.1');
      let out = '';
      s.on('data', (b: Buffer) => (out += b.toString()));
      s.on('error', () => undefined);
      s.on('close', () => resolve(out));
      s.write(head('/slow?ms=100') + head('/') + head('/'));
      setTimeout(() => s.destroy(), 3000);
    });
    // Whatever uWS delivered must be whole responses, never a mix; then the router still serves.
    assert.ok(reply === '' || reply.startsWith('HTTP/1.1 '), reply.slice(0, 100));
    assert.equal(nameOf(await get(router.port, 'ab.localhost', '/', { agent: false })), 'ab');
    await eventually(async () => (await metrics(router.adminPort)).get('dynomesh_router_in_flight') === 0, 5000, 'in-flight back to 0');
  });

  test('a burst of 200 concurrent requests with a third of the clients hanging up', async () => {
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      if (i % 3 === 0) work.push(hangUp(router.port, head('/slow?ms=50'), { ms: 10 + (i % 40) }));
      else work.push(get(router.port, 'ab.localhost', '/slow?ms=20').then((r) => assert.equal(r.status, 200)));
    }
    await Promise.all(work);
    await eventually(async () => (await metrics(router.adminPort)).get('dynomesh_router_in_flight') === 0, 5000, 'in-flight back to 0');
    assert.equal(router.proc.exitCode, null, 'router still running');
    assert.equal(router.stderr(), '', 'no uWS warnings (e.g. writes outside cork)');
  });
});
