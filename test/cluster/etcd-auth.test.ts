/**
 * etcd as `dynomesh up` runs it: TLS with client certificates only, one user and
 * role per daemon. A client with no certificate gets nothing; the router's
 * credential reads routing/ and cannot write; a node's credential writes its own
 * keys and not another node's; control's writes everything.
 */
import { after, before, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../../cluster/client.ts';
import { CONTROL_USER, nodeUser, ROUTER_USER, setupEtcdAuth } from '../../cluster/etcd-auth.ts';
import { EtcdServer } from '../../cluster/etcd-server.ts';
import { clientCert, ensurePki } from '../../cluster/pki.ts';
import type { DynoStatus } from '../../cluster/records.ts';

const PREFIX = '/authtest/';
const run = promisify(execFile);

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
    // Placements name what a control serves the node (slugs, config): only controls write them.
    const placement = { app: 'blog', dyno: 'web.1', type: 'web', release: 1, size: 'standard-1x', memoryMb: 512, restartNonce: 0, createdAt: 1 };
    await assert.rejects(n1.put(n1.keys.placement('n1', 'blog', 'web.1'), placement), /permission denied/i, 'a node cannot place another app on itself');
    await assert.rejects(n1.list(n1.keys.tokens()), /permission denied/i);
    await assert.rejects(n1.list(n1.keys.apps()), /permission denied/i);
    await assert.rejects(n1.list(n1.keys.releases('shop')), /permission denied/i, 'release data comes from a control, for placed releases only');
    await assert.rejects(n1.list(n1.keys.nodeCredentials()), /permission denied/i);
  });

  test('a node writes status and endpoints under its own id only, for any app it runs, never under another node\'s', async () => {
    const n1 = as(nodeUser('n1'));
    const n2 = as(nodeUser('n2'));
    const status = (node: string): DynoStatus => ({ app: 'shop', dyno: 'web.1', node, release: 1, state: 'up', since: 1, restarts: 0, exitCode: null, message: '', nextRestartAt: null });
    const ep = (node: string) => ({ app: 'shop', dyno: 'web.1', node, host: '10.0.0.1', port: 5000, release: 1 });
    await n1.put(n1.keys.status('n1', 'shop', 'web.1'), status('n1'));
    await n1.put(n1.keys.endpoint('n1', 'shop', 'web.1'), ep('n1'));
    await n2.put(n2.keys.endpoint('n2', 'shop', 'web.1'), ep('n2'));
    // n1 cannot write, overwrite or delete n2's keys, whatever the app
    await assert.rejects(n1.put(n1.keys.status('n2', 'shop', 'web.1'), status('n1')), /permission denied/i);
    await assert.rejects(n1.put(n1.keys.endpoint('n2', 'shop', 'web.1'), ep('n1')), /permission denied/i);
    await assert.rejects(n1.put(n1.keys.endpoint('n2', 'blog', 'web.1'), { ...ep('n1'), app: 'blog' }), /permission denied/i);
    await assert.rejects(n1.delete(n1.keys.endpoint('n2', 'shop', 'web.1')), /permission denied/i);
    // nor a node whose id starts with its own (prefix grants end with a slash)
    await assert.rejects(n1.put(n1.keys.endpoint('n10', 'shop', 'web.1'), ep('n1')), /permission denied/i);
    const router = as(ROUTER_USER);
    assert.equal((await router.get(router.keys.endpoint('n2', 'shop', 'web.1')))?.value.node, 'n2', 'n2\'s endpoint is intact');
    await n1.delete(n1.keys.endpoint('n1', 'shop', 'web.1'));
  });

  test('a second setup narrows a node role an older version made (app-keyed status and endpoints, releases)', async () => {
    const root = clientCert(pki, 'root');
    const etcdctl = (...args: string[]) => run('etcdctl', ['--endpoints', etcd.endpoint, '--cacert', root.ca, '--cert', root.cert, '--key', root.key, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
    for (const k of ['status/', 'routing/endpoints/', 'dynos/n1/']) await etcdctl('role', 'grant-permission', nodeUser('n1'), 'readwrite', PREFIX + k, '--prefix=true');
    const n1 = as(nodeUser('n1'));
    const ep = { app: 'shop', dyno: 'web.9', node: 'n1', host: '10.0.0.1', port: 5000, release: 1 };
    await n1.put(n1.keys.endpoint('n2', 'shop', 'web.9'), ep);
    await setupEtcdAuth(etcd.endpoint, root, PREFIX, ['n1', 'n2']);
    await assert.rejects(n1.put(n1.keys.endpoint('n2', 'shop', 'web.9'), ep), /permission denied/i);
    await assert.rejects(n1.put(n1.keys.placement('n1', 'shop', 'web.9'), { app: 'shop', dyno: 'web.9', type: 'web', release: 1, size: 'standard-1x', memoryMb: 512, restartNonce: 0, createdAt: 1 }), /permission denied/i);
    await n1.put(n1.keys.endpoint('n1', 'shop', 'web.9'), ep);
    await as(CONTROL_USER).delete(n1.keys.endpoint('n2', 'shop', 'web.9'));
  });
});
