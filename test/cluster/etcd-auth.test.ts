/**
 * etcd as `dynomesh up` runs it: TLS with client certificates only, one user and
 * role per daemon. A client with no certificate gets nothing; the router's
 * credential reads routing/ and cannot write; a node's credential writes its own
 * keys and not another node's; control's writes everything.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../../cluster/client.ts';
import { CONTROL_USER, nodeUser, ROUTER_USER, setupEtcdAuth } from '../../cluster/etcd-auth.ts';
import { EtcdServer } from '../../cluster/etcd-server.ts';
import { clientCert, ensurePki } from '../../cluster/pki.ts';

const PREFIX = '/authtest/';

describe('etcd with client certificates and per-daemon roles', () => {
  let dir: string;
  let pki: string;
  let etcd: EtcdServer;
  const clients: Cluster[] = [];
  const as = (user: string | undefined, endpoint = etcd.endpoint): Cluster => {
    const c = user ? clientCert(pki, user) : undefined;
    const cluster = new Cluster({
      endpoints: [endpoint], prefix: PREFIX, callTimeoutMs: 3000,
      ...(c ? { tls: { ca: readFileSync(c.ca), cert: readFileSync(c.cert), key: readFileSync(c.key) } } : {}),
    });
    clients.push(cluster);
    return cluster;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dm-etcd-auth-'));
    pki = join(dir, 'pki');
    ensurePki(pki, ['127.0.0.1', 'localhost'], ['root', CONTROL_USER, ROUTER_USER, nodeUser('n1'), nodeUser('n2')]);
    etcd = await new EtcdServer({ dataDir: join(dir, 'etcd'), pkiDir: pki }).start();
    await setupEtcdAuth(etcd.endpoint, clientCert(pki, 'root'), PREFIX, ['n1', 'n2']);
  });
  after(async () => {
    for (const c of clients) c.close();
    await etcd?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('keys and certificates are 0600 in a 0700 directory', () => {
    assert.equal(statSync(pki).mode & 0o777, 0o700);
    for (const f of readdirSync(pki)) assert.equal(statSync(join(pki, f)).mode & 0o777, 0o600, f);
  });

  test('no certificate: plain HTTP and TLS without a client certificate both get nothing', async () => {
    await assert.rejects(as(undefined, etcd.endpoint.replace('https:', 'http:')).revision());
    const anon = new Cluster({ endpoints: [etcd.endpoint], prefix: PREFIX, callTimeoutMs: 3000, tls: { ca: readFileSync(join(pki, 'ca.crt')) } });
    clients.push(anon);
    await assert.rejects(anon.revision());
  });

  test('control writes anywhere under the prefix; the router reads routing/ and cannot write', async () => {
    const control = as(CONTROL_USER);
    await control.put(control.keys.domain('www.example.com'), { app: 'shop' });
    const router = as(ROUTER_USER);
    assert.equal((await router.get(router.keys.domain('www.example.com')))?.value.app, 'shop');
    await assert.rejects(router.put(router.keys.domain('evil.example.com'), { app: 'shop' }), /permission denied/i);
    await assert.rejects(router.get(router.keys.app('shop')), /permission denied/i, 'apps/ is not the router\'s');
  });

  test('a node writes its own keys, not another node\'s, and cannot touch apps or tokens', async () => {
    const n1 = as(nodeUser('n1'));
    const node = { id: 'n1', address: '10.0.0.1', memoryMb: 1024, labels: {}, startedAt: 1 };
    await n1.put(n1.keys.node('n1'), node as never);
    await assert.rejects(n1.put(n1.keys.node('n2'), { ...node, id: 'n2' } as never), /permission denied/i);
    await assert.rejects(n1.list(n1.keys.placementsOf('n2')), /permission denied/i);
    await n1.list(n1.keys.placementsOf('n1'));
    await assert.rejects(n1.list(n1.keys.tokens()), /permission denied/i);
    await assert.rejects(n1.list(n1.keys.apps()), /permission denied/i);
  });
});
