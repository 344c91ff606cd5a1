/**
 * `certs:*` and `features:*` end to end: the real CLI against a control plane on
 * real etcd, and a real router serving what the CLI added over HTTPS (curl with
 * --resolve and --cacert). Bad key pairs are refused with one line and nothing stored.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from '../../cluster/client.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { makeCa, makeLeaf } from '../support/certs.ts';
import { ADMIN, dump, startControl } from './support.ts';
import { addEndpoint, get, startBackend, startRouter, type Backend, type RouterProc } from '../router/helpers.ts';

const etcd = useEtcd();
const ROOT = join(import.meta.dirname, '../..');
const WORK = mkdtempSync(join(tmpdir(), 'dm-certs-cli-'));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(url: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin/dynomesh.js'), ...args], {
      cwd: WORK, // not this repository: apps:create would add a git remote to it
      env: { PATH: process.env.PATH, HOME: '/nonexistent', DYNOMESH_CONFIG: '/nonexistent/cli.json', DYNOMESH_API_URL: url, DYNOMESH_API_KEY: ADMIN, DYNOMESH_LOG_LEVEL: 'warn', LANG: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const r: Run = { code: null, stdout: '', stderr: '' };
    p.stdout.on('data', (c: Buffer) => (r.stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (r.stderr += c.toString()));
    p.on('close', (code) => resolve({ ...r, code }));
  });
}

function curl(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '5', ...args], (err, out, errOut) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: out + errOut }));
  });
}

const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);

describe('certs and features through the CLI, served by a router', () => {
  let cluster: Cluster;
  let ctl: Awaited<ReturnType<typeof startControl>>;
  let router: RouterProc;
  let backend: Backend;
  let httpsPort = 0;
  const ca = makeCa();
  const shop = makeLeaf(ca, ['shop.localhost', 'www.shop.test']);

  before(async () => {
    cluster = etcd.cluster();
    ctl = await startControl(etcd, cluster);
    backend = await startBackend('s1');
    const made = await cli(ctl.control.url, ['certs-key', '--cluster-key', join(ctl.dir, 'cluster.key'), '--out', join(ctl.dir, 'certs.key')]);
    assert.equal(made.code, 0, made.stderr);
    router = await startRouter(cluster, ['--base-domain', 'localhost', '--https-port', '0', '--certs-key', join(ctl.dir, 'certs.key')]);
    httpsPort = router.logs.find((r) => r.msg === 'router-listening')!.httpsPort as number;
    ok(await cli(ctl.control.url, ['apps:create', 'shop']), 'apps:create');
    ok(await cli(ctl.control.url, ['domains:add', 'www.shop.test', '-a', 'shop']), 'domains:add');
    await addEndpoint(cluster, 'shop', 'web.1', backend.port);
  });
  after(async () => {
    await router?.stop();
    await backend?.kill();
    await ctl?.stop();
  });

  test('a wrong, expired or mismatched key pair is refused with one line, exit 1, nothing stored', async () => {
    const before = await dump(cluster);
    const other = makeLeaf(ca, ['shop.localhost']);
    const expired = makeLeaf(ca, ['shop.localhost'], { days: -1 });
    const cases: [string, string, RegExp][] = [
      [shop.certFile, other.keyFile, /private key does not match the certificate/],
      [expired.certFile, expired.keyFile, /certificate expired on/],
      [shop.keyFile, shop.keyFile, /no PEM certificate found/],
      [shop.certFile, shop.certFile, /private key does not parse/],
      [shop.certFile, '/nonexistent.key', /cannot read the private key/],
    ];
    for (const [crt, key, why] of cases) {
      const r = await cli(ctl.control.url, ['certs:add', crt, key, '-a', 'shop']);
      assert.equal(r.code, 1, `${crt} ${key}: ${r.stdout} ${r.stderr}`);
      assert.match(r.stderr, why);
      assert.equal(r.stderr.trim().split('\n').filter((l) => l.includes('▸')).length, 1, r.stderr);
    }
    assert.deepEqual(await dump(cluster), before, 'nothing stored');
  });

  test('certs:add then curl --resolve --cacert gets the app over TLS; certs, certs:info show it', async () => {
    const add = await cli(ctl.control.url, ['certs:add', shop.certFile, shop.keyFile, '-a', 'shop']);
    ok(add, 'certs:add');
    assert.match(add.stderr, /Adding SSL certificate to ⬢ shop\.\.\. done/);
    assert.match(add.stdout, /⬢ shop now served by [a-z]+-\d+/);
    assert.match(add.stdout, /Common Name\(s\): +shop\.localhost, www\.shop\.test/);
    for (const host of ['shop.localhost', 'www.shop.test']) {
      const r = await eventually(async () => {
        const x = await curl(['--resolve', `${host}:${httpsPort}:127.0.0.1`, '--cacert', ca.certFile, `https://${host}:${httpsPort}/`]);
        return x.code === 0 ? x : undefined;
      }, 5000, `${host} over HTTPS`);
      assert.equal((JSON.parse(r.out) as { name: string }).name, 's1');
    }
    const list = await cli(ctl.control.url, ['certs', '-a', 'shop']);
    ok(list, 'certs');
    assert.match(list.stdout, /^Name +Common Name\(s\) +Expires +Trusted +Type +Domains$/m);
    assert.match(list.stdout, /shop\.localhost, www\.shop\.test +\d{4}-\d\d-\d\d \d\d:\d\d UTC +True +SNI +2$/m);
    const infoOut = await cli(ctl.control.url, ['certs:info', '-a', 'shop']);
    ok(infoOut, 'certs:info');
    assert.match(infoOut.stdout, /Issuer: +CN=dynomesh test CA/);
    const etcdValue = (await cluster.etcd.getAll().prefix(cluster.keys.certsOf('shop')).buffers()) as Record<string, Buffer>;
    const stored = Object.values(etcdValue)[0]!;
    assert.ok(!stored.includes(Buffer.from('PRIVATE KEY')), 'the key is sealed in etcd');
  });

  test('certs:update swaps the certificate the router serves; certs:remove stops it', async () => {
    const renewed = makeLeaf(ca, ['shop.localhost', 'www.shop.test'], { days: 90 });
    ok(await cli(ctl.control.url, ['certs:update', renewed.certFile, renewed.keyFile, '-a', 'shop', '--confirm', 'shop']), 'certs:update');
    await eventually(async () => {
      const x = await curl(['-v', '--resolve', `shop.localhost:${httpsPort}:127.0.0.1`, '--cacert', ca.certFile, `https://shop.localhost:${httpsPort}/`]);
      const expire = /expire date: (.+)/.exec(x.out)?.[1];
      return expire && Date.parse(expire) - Date.now() > 60 * 86400_000;
    }, 5000, 'the renewed certificate');
    const noConfirm = await cli(ctl.control.url, ['certs:remove', '-a', 'shop']);
    assert.equal(noConfirm.code, 1);
    assert.match(noConfirm.stderr, /--confirm shop/);
    ok(await cli(ctl.control.url, ['certs:remove', '-a', 'shop', '--confirm', 'shop']), 'certs:remove');
    await eventually(async () => (await curl(['--resolve', `shop.localhost:${httpsPort}:127.0.0.1`, '--cacert', ca.certFile, `https://shop.localhost:${httpsPort}/`])).code !== 0, 5000, 'no certificate');
    assert.match((await cli(ctl.control.url, ['certs', '-a', 'shop'])).stdout, /⬢ shop has no SSL certificates/);
  });

  test('features:enable http-redirect answers plain HTTP with 301 to https; features lists it; disable stops it', async () => {
    ok(await cli(ctl.control.url, ['features:enable', 'http-redirect', '-a', 'shop']), 'features:enable');
    const r = await eventually(async () => {
      const x = await get(router.port, 'shop.localhost', '/a?b=1');
      return x.status === 301 ? x : undefined;
    }, 5000, 'the redirect');
    assert.equal(r.headers.location, `https://shop.localhost:${httpsPort}/a?b=1`);
    const list = await cli(ctl.control.url, ['features', '-a', 'shop']);
    assert.match(list.stdout, /^\[\+\] http-redirect/m);
    assert.match(list.stdout, /^\[ \] hsts/m);
    const bad = await cli(ctl.control.url, ['features:enable', 'nope', '-a', 'shop']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /no feature nope/);
    ok(await cli(ctl.control.url, ['features:disable', 'http-redirect', '-a', 'shop']), 'features:disable');
    await eventually(async () => (await get(router.port, 'shop.localhost', '/')).status === 200, 5000, 'no redirect');
  });
});
