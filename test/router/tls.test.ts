/**
 * HTTPS at the router: a real router process (`--https-port`), real etcd, real
 * backends; certificates written to `routing/certs/` with sealed keys as the
 * control plane writes them. Clients verify against the test CA by SNI.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { ensureDevCa } from '../../router/tls/dev-ca.ts';
import { deriveCertsKey, writeCertsKey } from '../../cluster/certs-key.ts';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Cluster } from '../../cluster/client.ts';
import { checkCertificate } from '../../control/certs/validate.ts';
import { certRecord } from '../../control/certs/store.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { makeCa, makeLeaf, type Pem } from '../support/certs.ts';
import { addApp, addEndpoint, get, startBackend, startRouter, type Backend, type RouterProc } from './helpers.ts';

const etcd = useEtcd();
const dir = mkdtempSync(join(tmpdir(), 'dynomesh-tls-test-'));
const keyFile = join(dir, 'certs.key');
const clusterKey = randomBytes(32);
writeCertsKey(keyFile, deriveCertsKey(clusterKey));

async function putCert(cluster: Cluster, app: string, name: string, pem: Pem): Promise<void> {
  const rec = certRecord(clusterKey, app, name, checkCertificate(pem.cert, pem.key), 'manual', Date.now());
  await cluster.put(cluster.keys.cert(app, name), rec);
}

interface HttpsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** CN of the certificate the router presented. */
  cn: string;
}

function httpsGet(port: number, host: string, ca: string, path = '/', agent: false | undefined = false): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, servername: host, headers: { host }, ca, agent }, (res) => {
      const cn = String((res.socket as TLSSocket).getPeerCertificate().subject?.CN ?? '');
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, cn }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A TLS handshake only: the CN presented, or the error. */
function handshake(port: number, servername: string): Promise<{ cn?: string; error?: string; protocol?: string | null }> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const cn = String(s.getPeerCertificate().subject?.CN ?? '');
      const protocol = s.getProtocol();
      s.end();
      resolve({ cn, protocol });
    });
    s.on('error', (e) => resolve({ error: e.message }));
  });
}

function curl(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '5', ...args], (err, out, errOut) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: out + errOut }));
  });
}

describe('router HTTPS: SNI certificates from etcd', () => {
  let cluster: Cluster;
  let router: RouterProc;
  let httpsPort = 0;
  const backends: Backend[] = [];
  const ca = makeCa();
  const alpha = makeLeaf(ca, ['alpha.localhost', 'www.alpha.test']);
  const beta = makeLeaf(ca, ['beta.localhost']);

  before(async () => {
    cluster = etcd.cluster();
    backends.push(...(await Promise.all(['a1', 'b1'].map(startBackend))));
    await addApp(cluster, 'alpha');
    await addApp(cluster, 'beta');
    await addEndpoint(cluster, 'alpha', 'web.1', backends[0]!.port);
    await addEndpoint(cluster, 'beta', 'web.1', backends[1]!.port);
    await cluster.put(cluster.keys.domain('www.alpha.test'), { app: 'alpha' });
    await putCert(cluster, 'alpha', 'tokyo-1111', alpha);
    await putCert(cluster, 'beta', 'kyoto-2222', beta);
    router = await startRouter(cluster, ['--base-domain', 'localhost', '--https-port', '0', '--certs-key', keyFile]);
    httpsPort = router.logs.find((r) => r.msg === 'router-listening')!.httpsPort as number;
  });
  after(async () => {
    await router?.stop();
    await Promise.all(backends.map((b) => b.kill()));
  });

  test('two apps on one router, each with its own certificate chosen by SNI (curl --resolve --cacert)', async () => {
    for (const [host, name] of [['alpha.localhost', 'a1'], ['beta.localhost', 'b1'], ['www.alpha.test', 'a1']] as const) {
      const r = await curl(['--resolve', `${host}:${httpsPort}:127.0.0.1`, '--cacert', ca.certFile, `https://${host}:${httpsPort}/x?y=1`]);
      assert.equal(r.code, 0, r.out);
      const seen = JSON.parse(r.out) as { name: string; url: string; headers: Record<string, string> };
      assert.equal(seen.name, name);
      assert.equal(seen.url, '/x?y=1');
      assert.equal(seen.headers['x-forwarded-proto'], 'https');
      assert.equal(seen.headers['x-forwarded-port'], String(httpsPort));
    }
    assert.equal((await handshake(httpsPort, 'alpha.localhost')).cn, 'alpha.localhost');
    assert.equal((await handshake(httpsPort, 'beta.localhost')).cn, 'beta.localhost');
  });

  test('plain HTTP keeps working beside it, with X-Forwarded-Proto http; router lines say protocol=https / http', async () => {
    const r = await get(router.port, 'alpha.localhost', '/plain');
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'http');
    await httpsGet(httpsPort, 'beta.localhost', ca.cert, '/secure-line');
    await eventually(() => router.lines().some((l) => l.includes('path="/secure-line"') && l.endsWith('protocol=https')), 5000, 'an https router line');
    assert.ok(router.lines().some((l) => l.includes('path="/plain"') && l.endsWith('protocol=http')));
  });

  test('TLS 1.2 and 1.3 only; a name with no certificate fails the handshake and others go on', async () => {
    assert.match((await handshake(httpsPort, 'alpha.localhost')).protocol ?? '', /^TLSv1\.[23]$/);
    const old = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: httpsPort, servername: 'alpha.localhost', rejectUnauthorized: false, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }, () => resolve('connected'));
      s.on('error', (e) => resolve(e.message));
    });
    assert.notEqual(old, 'connected');
    const none = await handshake(httpsPort, 'nocert.localhost');
    assert.ok(none.error, 'no certificate: the handshake fails');
    assert.equal((await httpsGet(httpsPort, 'alpha.localhost', ca.cert)).status, 200);
  });

  test('a certificate is served only for its own app\'s hosts', async () => {
    // beta uploads a certificate naming alpha's host: alpha keeps its own
    const rogue = makeLeaf(ca, ['alpha.localhost', 'beta.localhost'], { days: 60 });
    await putCert(cluster, 'beta', 'osaka-3333', rogue);
    await new Promise((r) => setTimeout(r, 500));
    const r = await httpsGet(httpsPort, 'alpha.localhost', ca.cert);
    assert.equal(JSON.parse(r.body).name, 'a1');
    assert.equal((await handshake(httpsPort, 'alpha.localhost')).cn, 'alpha.localhost');
    await cluster.delete(cluster.keys.cert('beta', 'osaka-3333'));
  });

  test('a renewed certificate is served within a second; a keep-alive connection from before keeps working; removal stops it', async () => {
    const keep = new (await import('node:https')).Agent({ keepAlive: true, ca: ca.cert });
    const viaAgent = (path: string) => new Promise<number>((resolve, reject) => {
      httpsRequest({ host: '127.0.0.1', port: httpsPort, path, servername: 'beta.localhost', headers: { host: 'beta.localhost' }, agent: keep }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      }).on('error', reject).end();
    });
    assert.equal(await viaAgent('/before'), 200);
    const renewed = makeLeaf(ca, ['beta.localhost', 'api.beta.localhost'], { days: 90 });
    const t0 = Date.now();
    await putCert(cluster, 'beta', 'kyoto-2222', renewed);
    const serial = await eventually(async () => {
      const s = await new Promise<string>((resolve) => {
        const c = tlsConnect({ host: '127.0.0.1', port: httpsPort, servername: 'beta.localhost', ca: ca.cert }, () => {
          resolve(c.getPeerCertificate().serialNumber);
          c.end();
        });
        c.on('error', () => resolve(''));
      });
      return s && s !== new X509Certificate(beta.cert).serialNumber ? s : '';
    }, 5000, 'the renewed certificate');
    assert.ok(serial);
    assert.ok(Date.now() - t0 < 5000);
    // the connection opened before the change is served by the previous generation
    assert.equal(await viaAgent('/after'), 200);
    keep.destroy();
    await cluster.delete(cluster.keys.cert('beta', 'kyoto-2222'));
    await eventually(async () => Boolean((await handshake(httpsPort, 'beta.localhost')).error), 5000, 'beta\'s handshake to fail');
    assert.equal((await httpsGet(httpsPort, 'alpha.localhost', ca.cert)).status, 200, 'alpha still served');
    assert.equal(router.proc.exitCode, null, 'router alive');
  });

  test('http-redirect: plain HTTP gets 301 (GET) / 308 (POST) to https on the HTTPS port; hsts adds Strict-Transport-Security', async () => {
    await cluster.put(cluster.keys.routingApp('alpha'), { app: 'alpha', affinity: 'ip', balanceFactor: 1.25, maintenance: false, httpsRedirect: true, hsts: true });
    const r = await eventually(async () => {
      const x = await get(router.port, 'alpha.localhost:80', '/p?q=1');
      return x.status === 301 ? x : undefined;
    }, 5000, 'the redirect');
    assert.equal(r.headers.location, `https://alpha.localhost:${httpsPort}/p?q=1`);
    assert.equal((await get(router.port, 'alpha.localhost', '/p', { method: 'POST', body: 'x' })).status, 308);
    const s = await httpsGet(httpsPort, 'alpha.localhost', ca.cert);
    assert.equal(s.status, 200);
    assert.equal(s.headers['strict-transport-security'], 'max-age=31536000');
    assert.equal((await get(router.port, 'beta.localhost')).status, 200, 'other apps are not redirected');
  });

  test('ACME HTTP-01: /.well-known/acme-challenge/{token} is answered from etcd before any app, also for redirected apps', async () => {
    const token = 'tok_' + randomBytes(16).toString('base64url');
    await cluster.put(cluster.keys.acmeChallenge(token), { token, keyAuthorization: `${token}.thumb`, app: 'alpha', host: 'alpha.localhost', createdAt: Date.now() });
    const r = await eventually(async () => {
      const x = await get(router.port, 'alpha.localhost', `/.well-known/acme-challenge/${token}`);
      return x.status === 200 ? x : undefined;
    }, 5000, 'the challenge answer');
    assert.equal(r.body, `${token}.thumb`);
    // an unknown token goes to the app as any other path
    assert.equal((await get(router.port, 'alpha.localhost', '/.well-known/acme-challenge/unknown-token-xxxxxxxx')).status, 301, 'alpha redirects the rest');
    await cluster.delete(cluster.keys.acmeChallenge(token));
    await addApp(cluster, 'alpha');
  });
});

describe('router HTTPS with --workers 2', () => {
  test('each worker serves the certificates and picks up a new one', async () => {
    const cluster = etcd.cluster();
    const backend = await startBackend('w1');
    const ca = makeCa();
    await addApp(cluster, 'gamma');
    await addEndpoint(cluster, 'gamma', 'web.1', backend.port);
    await putCert(cluster, 'gamma', 'nara-1000', makeLeaf(ca, ['gamma.localhost']));
    const router = await startRouter(cluster, ['--base-domain', 'localhost', '--https-port', '0', '--certs-key', keyFile, '--workers', '2']);
    try {
      const port = router.logs.find((r) => r.msg === 'router-listening')!.httpsPort as number;
      // fresh connections land on either worker
      for (let i = 0; i < 12; i++) assert.equal(JSON.parse((await httpsGet(port, 'gamma.localhost', ca.cert)).body).name, 'w1');
      await addApp(cluster, 'delta');
      await addEndpoint(cluster, 'delta', 'web.1', backend.port);
      await putCert(cluster, 'delta', 'kobe-2000', makeLeaf(ca, ['delta.localhost']));
      await eventually(async () => {
        for (let i = 0; i < 8; i++) if ((await handshake(port, 'delta.localhost')).cn !== 'delta.localhost') return false;
        return true;
      }, 5000, 'every worker to serve delta\'s certificate');
    } finally {
      await router.stop();
      await backend.kill();
    }
  });
});

describe('router HTTPS with a development CA (--tls-dev-ca, as dynomesh up runs it)', () => {
  test('every routed host without a certificate gets one minted by the CA; an app\'s own certificate wins', async () => {
    const cluster = etcd.cluster();
    const backend = await startBackend('d1');
    const caDir = join(dir, 'dev-ca');
    const caFile = await ensureDevCa(caDir);
    assert.equal(await ensureDevCa(caDir), caFile, 'made once');
    const devCa = readFileSync(caFile, 'utf8');
    await addApp(cluster, 'zeta');
    await addEndpoint(cluster, 'zeta', 'web.1', backend.port);
    const own = makeCa();
    await addApp(cluster, 'theta');
    await addEndpoint(cluster, 'theta', 'web.1', backend.port);
    await putCert(cluster, 'theta', 'nara-3000', makeLeaf(own, ['theta.localhost']));
    const router = await startRouter(cluster, ['--base-domain', 'localhost', '--https-port', '0', '--certs-key', keyFile, '--tls-dev-ca', caDir]);
    try {
      const port = router.logs.find((r) => r.msg === 'router-listening')!.httpsPort as number;
      const r = await curl(['--resolve', `zeta.localhost:${port}:127.0.0.1`, '--cacert', caFile, `https://zeta.localhost:${port}/`]);
      assert.equal(r.code, 0, r.out);
      assert.equal(JSON.parse(r.out).name, 'd1');
      assert.equal((await httpsGet(port, 'theta.localhost', own.cert)).cn, 'theta.localhost');
      // an app created later is served within the propagation bound
      await addApp(cluster, 'iota');
      await addEndpoint(cluster, 'iota', 'web.1', backend.port);
      await cluster.put(cluster.keys.domain('www.iota.test'), { app: 'iota' });
      for (const host of ['iota.localhost', 'www.iota.test']) {
        const x = await eventually(async () => {
          const y = await httpsGet(port, host, devCa).catch(() => undefined);
          return y?.status === 200 ? y : undefined;
        }, 5000, `${host} minted`);
        assert.equal(x.cn, host);
      }
    } finally {
      await router.stop();
      await backend.kill();
    }
  });
});
