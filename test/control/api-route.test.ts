/**
 * The Platform API and git through a real router over TLS (`control --api-domain`):
 * the control registers its API as the internal route, the router serves it at
 * https://api.localhost with its default certificate; a token goes only over TLS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:https';
import { join } from 'node:path';
import type { Cluster } from '../../cluster/client.ts';
import { loadClusterKey } from '../../cluster/sealed.ts';
import { deriveCertsKey, writeCertsKey } from '../../cluster/certs-key.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { makeCa, makeLeaf } from '../support/certs.ts';
import { ADMIN, startControl } from './support.ts';
import { startRouter, type RouterProc } from '../router/helpers.ts';

const etcd = useEtcd();

function apiOverTls(port: number, ca: string, method: string, path: string, token = ADMIN, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, method, servername: 'api.localhost', ca, agent: false,
      headers: { host: 'api.localhost', authorization: `Bearer ${token}`, accept: 'application/vnd.heroku+json; version=3', ...(body ? { 'content-type': 'application/json' } : {}) },
    }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: b }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

describe('the API and git through the routers over TLS', () => {
  let cluster: Cluster;
  let ctl: Awaited<ReturnType<typeof startControl>>;
  let router: RouterProc;
  let port = 0;
  const ca = makeCa();
  const api = makeLeaf(ca, ['api.localhost']);

  before(async () => {
    cluster = etcd.cluster();
    ctl = await startControl(etcd, cluster, { apiDomain: 'api.localhost' });
    const certsKey = join(ctl.dir, 'certs.key');
    writeCertsKey(certsKey, deriveCertsKey(loadClusterKey(join(ctl.dir, 'cluster.key'))));
    router = await startRouter(cluster, ['--base-domain', 'localhost', '--https-port', '0', '--tls-cert', api.certFile, '--tls-key', api.keyFile, '--certs-key', certsKey]);
    port = router.logs.find((r) => r.msg === 'router-listening')!.httpsPort as number;
  });
  after(async () => {
    await router?.stop();
    await ctl?.stop();
  });

  test('the Platform API answers at https://api.localhost through the router', async () => {
    const created = await eventually(async () => {
      const r = await apiOverTls(port, ca.cert, 'POST', '/apps', ADMIN, { name: 'tlsapp' });
      return r.status === 201 ? r : undefined;
    }, 5000, 'the API through the router');
    assert.equal(JSON.parse(created.body).name, 'tlsapp');
    const list = await apiOverTls(port, ca.cert, 'GET', '/apps');
    assert.equal(list.status, 200);
    assert.ok((JSON.parse(list.body) as { name: string }[]).some((a) => a.name === 'tlsapp'));
    assert.equal((await apiOverTls(port, ca.cert, 'GET', '/apps', 'dm_wrong-token-000000000000000000')).status, 401);
  });

  test('git speaks smart HTTP to the API over the router\'s TLS', async () => {
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile('git', ['-c', `http.sslCAInfo=${ca.certFile}`, '-c', `http.curloptResolve=api.localhost:${port}:127.0.0.1`, 'ls-remote', `https://git:${ADMIN}@api.localhost:${port}/tlsapp.git`],
        { env: { PATH: process.env.PATH, HOME: '/nonexistent', GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1' } },
        (err, out, errOut) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: out + errOut }));
    });
    assert.equal(r.code, 0, r.out);
  });

  test('the name is reserved: no app may be called dynomesh-api', async () => {
    const r = await ctl.api('POST', '/apps', { name: 'dynomesh-api' });
    assert.equal(r.status, 422);
    assert.match(JSON.stringify(r.body), /reserved/);
  });
});
