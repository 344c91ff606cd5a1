/**
 * Admission parity: an HTTP request and a WebSocket upgrade meet the same
 * refusals and H-codes for the same failure (router/admit.ts), and an open
 * WebSocket counts against its dyno's bound like an in-flight request.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { WebSocket } from 'ws';
import type { Cluster } from '../../cluster/client.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { exhaustedCode } from '../../router/admit.ts';
import type { AppRoute } from '../../router/table/route-table.ts';
import { addApp, addEndpoint, get, startBackend, startRouter, type Backend, type RouterProc } from './helpers.ts';

const etcd = useEtcd();

/** A port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** The status of a WebSocket upgrade that does not get 101, or 101 and the dyno's hello. */
function upgrade(port: number, host: string, headers: Record<string, string> = {}): Promise<{ status: number; hello?: string; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`, { headers: { host, ...headers }, perMessageDeflate: false });
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.once('message', (d: Buffer) => resolve({ status: 101, hello: (JSON.parse(d.toString()) as { name: string }).name, ws }));
    ws.once('error', (err) => (/Unexpected server response/.test(err.message) ? undefined : reject(err)));
  });
}

describe('HTTP and WebSocket admission', () => {
  let cluster: Cluster;
  let router: RouterProc;
  const backends: Backend[] = [];

  before(async () => {
    cluster = etcd.cluster();
    backends.push(await startBackend('a1'), await startBackend('a2'));
    await addApp(cluster, 'empty');
    await addApp(cluster, 'resting', { maintenance: true });
    await addEndpoint(cluster, 'resting', 'web.1', backends[0]!.port);
    await addApp(cluster, 'crashed');
    await addEndpoint(cluster, 'crashed', 'web.1', await deadPort());
    await addEndpoint(cluster, 'crashed', 'web.2', await deadPort());
    await addApp(cluster, 'half');
    await addEndpoint(cluster, 'half', 'web.1', await deadPort());
    await addEndpoint(cluster, 'half', 'web.2', backends[0]!.port);
    await addApp(cluster, 'pinned', { affinity: 'header:x-user', balanceFactor: 1 });
    await addEndpoint(cluster, 'pinned', 'web.1', backends[0]!.port);
    await addEndpoint(cluster, 'pinned', 'web.2', backends[1]!.port);
    router = await startRouter(cluster);
  });
  after(async () => {
    await router?.stop();
    await Promise.all(backends.map((b) => b.kill()));
  });

  const codeFor = (host: string, after: number) => {
    const lines = router.lines().slice(after).filter((l) => l.includes(`host=${host} `));
    return /code=(H\d\d)/.exec(lines.at(-1) ?? '')?.[1] ?? 'none';
  };

  for (const [host, status, code] of [['empty.localhost', 503, 'H14'], ['resting.localhost', 503, 'H80'], ['crashed.localhost', 503, 'H10']] as const) {
    test(`${host}: ${status} ${code} for HTTP and for a WebSocket`, async () => {
      let n = router.lines().length;
      assert.equal((await get(router.port, host, '/')).status, status);
      await eventually(() => codeFor(host, n) !== 'none', 5000, 'the HTTP line');
      assert.equal(codeFor(host, n), code, 'HTTP');
      n = router.lines().length;
      assert.equal((await upgrade(router.port, host)).status, status);
      await eventually(() => codeFor(host, n) !== 'none', 5000, 'the WebSocket line');
      assert.equal(codeFor(host, n), code, 'WebSocket');
    });
  }

  test('one dyno refusing: both retry on the other and get through', async () => {
    assert.equal((await get(router.port, 'half.localhost', '/')).status, 200);
    const w = await upgrade(router.port, 'half.localhost');
    assert.equal(w.status, 101);
    assert.equal(w.hello, 'a1');
    w.ws?.close();
  });

  test('an open WebSocket counts in bounded loads: a second one with the same key goes to the other dyno', async () => {
    const first = await upgrade(router.port, 'pinned.localhost', { 'x-user': 'u1' });
    const second = await upgrade(router.port, 'pinned.localhost', { 'x-user': 'u1' });
    try {
      assert.equal(first.status, 101);
      assert.equal(second.status, 101);
      assert.notEqual(first.hello, second.hello, 'at balance factor 1, the owner of u1 is full while the first socket is open');
    } finally {
      first.ws?.close();
      second.ws?.close();
    }
    // closed, the owner takes u1 again
    await eventually(async () => {
      const third = await upgrade(router.port, 'pinned.localhost', { 'x-user': 'u1' });
      third.ws?.close();
      return third.hello === first.hello;
    }, 5000, 'the owner free again');
  });

  test('H10 when every dyno is down, H19 when the last connect timed out, else H21', () => {
    const route = (down: boolean[]) => ({ backends: down.map((d) => ({ isQuarantined: () => d })) }) as unknown as AppRoute;
    assert.equal(exhaustedCode(route([true, true]), 'ECONNREFUSED', 0), 'H10');
    assert.equal(exhaustedCode(route([true, false]), 'ETIMEDOUT', 0), 'H19');
    assert.equal(exhaustedCode(route([true, false]), 'ECONNREFUSED', 0), 'H21');
  });
});
