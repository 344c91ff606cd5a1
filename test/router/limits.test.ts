/**
 * The refused heads of the router issue, sent as raw bytes: each gets a status
 * line (400 from the router, or 400/431/505 from uWS where the loaded build
 * answers before the router's handler runs; router/uws-builds.ts lists which)
 * and nothing is forwarded to the dyno: each case reads the dyno's own record of the
 * requests it got (fixtures/backend.ts) and finds only the ones it should have served.
 * After every case the router still serves. Head sizes, segmentation and header counts:
 * heads.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from '../../cluster/client.ts';
import { useEtcd } from '../support/etcd.ts';
import { addApp, addEndpoint, get, nameOf, raw, startBackend, startRouter, type Backend, type RouterProc } from './helpers.ts';

const etcd = useEtcd();

const head = (lines: string[]) => lines.join('\r\n') + '\r\n\r\n';

describe('request limits (400)', () => {
  let cluster: Cluster;
  let router: RouterProc;
  let backend: Backend;

  before(async () => {
    cluster = etcd.cluster();
    backend = await startBackend('lim');
    await addApp(cluster, 'lim');
    await addEndpoint(cluster, 'lim', 'web.1', backend.port);
    router = await startRouter(cluster);
  });
  after(async () => {
    await router?.stop();
    await backend?.kill();
  });

  /** The dyno's own record, read from it directly (not through the router). */
  const dynoRecord = async () => JSON.parse((await get(backend.port, '127.0.0.1', '/__seen', { agent: false })).body) as { count: number; recent: string[] };
  const mark = async () => (await dynoRecord()).count;
  /** The router still serves; since `since`, the dyno got exactly `served` and that check's request. */
  const stillServes = async (since?: number, served: string[] = []) => {
    assert.equal(nameOf(await get(router.port, 'lim.localhost', '/still-serves', { agent: false })), 'lim');
    if (since === undefined) return;
    const { count, recent } = await dynoRecord();
    assert.deepEqual(recent.slice(recent.length - (count - since)), [...served, 'GET /still-serves'], 'what the dyno got');
  };
  const is400 = (reply: string) => assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/, reply.slice(0, 200));

  test('a well-formed raw request gets 200 (control case)', async () => {
    const since = await mark();
    const { reply } = await raw(router.port, head(['GET / HTTP/1.1', 'Host: lim.localhost', 'Connection: close']));
    assert.match(reply, /^HTTP\/1\.1 200 OK/);
    await stillServes(since, ['GET /']);
  });

  test('request line over 8192 bytes', async () => {
    const since = await mark();
    const { reply } = await raw(router.port, head([`GET /${'a'.repeat(9000)} HTTP/1.1`, 'Host: lim.localhost']));
    is400(reply);
    const ok = await raw(router.port, head([`GET /${'a'.repeat(8000)} HTTP/1.1`, 'Host: lim.localhost', 'Connection: close']));
    assert.match(ok.reply, /^HTTP\/1\.1 200/, 'a line just under the limit is served');
    await stillServes(since, [`GET /${'a'.repeat(8000)}`]);
  });

  test('header line over 8192 bytes', async () => {
    const since = await mark();
    const { reply } = await raw(router.port, head(['GET / HTTP/1.1', 'Host: lim.localhost', `X-Big: ${'b'.repeat(8200)}`]));
    is400(reply);
    await stillServes(since);
  });

  test('more than one Host header', async () => {
    const since = await mark();
    const { reply } = await raw(router.port, head(['GET / HTTP/1.1', 'Host: lim.localhost', 'Host: other.localhost']));
    is400(reply);
    assert.match(reply, /Bad request|refused/i);
    await stillServes(since);
  });

  test('conflicting Content-Length headers', async () => {
    const since = await mark();
    const { reply } = await raw(router.port, head(['POST /count HTTP/1.1', 'Host: lim.localhost', 'Content-Length: 5', 'Content-Length: 6']) + 'hello!');
    is400(reply);
    await stillServes(since);
  });

  test('Transfer-Encoding other than chunked', async () => {
    const since = await mark();
    const { reply } = await raw(router.port, head(['POST /count HTTP/1.1', 'Host: lim.localhost', 'Transfer-Encoding: gzip']) + '5\r\nhello\r\n0\r\n\r\n');
    is400(reply);
    await stillServes(since);
  });

  test('Content-Length with Transfer-Encoding', async () => {
    const since = await mark();
    for (const order of [['Content-Length: 5', 'Transfer-Encoding: chunked'], ['Transfer-Encoding: chunked', 'Content-Length: 5']]) {
      const { reply } = await raw(router.port, head(['POST /count HTTP/1.1', 'Host: lim.localhost', ...order]) + '5\r\nhello\r\n0\r\n\r\n');
      is400(reply); // uwebsockets 3.0.6 answers this one itself
    }
    await stillServes(since);
  });

  test('one Content-Length header with two values, a sign or letters', async () => {
    const since = await mark();
    for (const cl of ['5, 5', '+5', 'abc']) {
      const { reply } = await raw(router.port, head(['POST /count HTTP/1.1', 'Host: lim.localhost', `Content-Length: ${cl}`]) + 'hello');
      is400(reply);
    }
    await stillServes(since);
  });

  test('more than 1000 headers in a head over the size limit: 431', async () => {
    const since = await mark();
    const many = Array.from({ length: 1001 }, (_, i) => `X-Header-${i}: value-${i}`);
    const { reply } = await raw(router.port, head(['GET / HTTP/1.1', 'Host: lim.localhost', ...many]), 3000);
    assert.match(reply, /^HTTP\/1\.1 431 /, reply.slice(0, 200) || 'no status line');
    await stillServes(since);
  });

  test('Content-Length of 10 digits is taken (uWS 20.30 closed it): the router waits for the body', async () => {
    const { reply, closed } = await raw(router.port, head(['POST /count HTTP/1.1', 'Host: lim.localhost', 'Content-Length: 1000000000']) + 'abc', 500);
    assert.equal(reply, '');
    assert.equal(closed, false, 'still open, waiting for the rest of the body');
    await stillServes();
  });

  test('the dyno never saw a refused request', async () => {
    // Refused heads with bodies, one after another on fresh connections: the dyno's own record has none of them.
    const since = await mark();
    const refused = [
      head(['POST /count?a HTTP/1.1', 'Host: lim.localhost', 'Content-Length: 5', 'Content-Length: 6']) + 'hello!',
      head(['POST /count?b HTTP/1.1', 'Host: lim.localhost', 'Transfer-Encoding: gzip']) + '5\r\nhello\r\n0\r\n\r\n',
      head(['POST /count?c HTTP/1.1', 'Host: lim.localhost', 'Content-Length: 5', 'Transfer-Encoding: chunked']) + '5\r\nhello\r\n0\r\n\r\n',
      head(['POST /count?d HTTP/1.1', 'Host: lim.localhost', 'Host: other.localhost', 'Content-Length: 5']) + 'hello',
      head(['POST /count?e HTTP/1.1', 'Host: lim.localhost', 'Content-Length: +5']) + 'hello',
    ];
    for (const data of refused) is400((await raw(router.port, data)).reply);
    await stillServes(since);
  });
});
