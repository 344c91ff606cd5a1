/**
 * Automatic Certificate Management against a real ACME CA (pebble, started here):
 * the control leader orders a certificate over HTTP-01, a real router answers the
 * challenge from etcd on its HTTP port and serves the certificate over HTTPS
 * within 5 s of issuance; a forced renewal is served; a domain whose validation
 * fails shows `Failing` with the CA's reason; plain HTTP never fails meanwhile.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { Cluster } from '../../cluster/client.ts';
import { freePort } from '../../lib/ports.ts';
import { loadClusterKey } from '../../cluster/sealed.ts';
import { deriveCertsKey, writeCertsKey } from '../../cluster/certs-key.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { hasPebble, startPebble, type Pebble } from '../support/pebble.ts';
import { ADMIN, startControl } from './support.ts';
import { addEndpoint, get, startBackend, startRouter, type Backend, type RouterProc } from '../router/helpers.ts';

const etcd = useEtcd();
const ROOT = join(import.meta.dirname, '../..');

/** The certificate the router presents for `host`, verified against `root` (undefined when it does not verify). */
function served(port: number, host: string, root: string): Promise<X509Certificate | undefined> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: host, ca: root }, () => {
      const raw = s.getPeerCertificate().raw;
      s.end();
      resolve(raw ? new X509Certificate(raw) : undefined);
    });
    s.on('error', () => resolve(undefined));
  });
}

describe('ACM over ACME HTTP-01 (pebble)', { skip: hasPebble() ? false : 'pebble is not installed (scripts/install-deps.sh --acme)' }, () => {
  let cluster: Cluster;
  let pebble: Pebble;
  let ctl: Awaited<ReturnType<typeof startControl>>;
  let router: RouterProc;
  let backend: Backend;
  let httpsPort = 0;
  let root = '';
  let httpFailures = 0;
  let httpOk = 0;
  let traffic = true;
  let loop: Promise<void>;
  const host = 'www.shop.localhost';

  before(async () => {
    cluster = etcd.cluster();
    const httpPort = await freePort();
    pebble = await startPebble(httpPort);
    root = await pebble.root();
    ctl = await startControl(etcd, cluster, {
      baseDomain: 'apps.test',
      acme: { directoryUrl: pebble.directoryUrl, caPem: pebble.caPem, accountKeyFile: join(mkdtempSync(join(tmpdir(), 'dm-acme-')), 'account.key'), pollMs: 250, backoffMs: 60_000, propagationMs: 200 },
    });
    const certsKey = join(ctl.dir, 'certs.key');
    writeCertsKey(certsKey, deriveCertsKey(loadClusterKey(join(ctl.dir, 'cluster.key'))));
    backend = await startBackend('s1');
    router = await startRouter(cluster, ['--port', String(httpPort), '--base-domain', 'apps.test', '--https-port', '0', '--certs-key', certsKey]);
    httpsPort = router.logs.find((r) => r.msg === 'router-listening')!.httpsPort as number;
    assert.equal((await ctl.api('POST', '/apps', { name: 'shop' })).status, 201);
    assert.equal((await ctl.api('POST', '/apps/shop/domains', { hostname: host })).status, 201);
    await addEndpoint(cluster, 'shop', 'web.1', backend.port);
    await eventually(async () => (await get(router.port, host)).status === 200, 5000, 'the app over HTTP');
    // plain HTTP keeps going through the whole file
    loop = (async () => {
      while (traffic) {
        try {
          if ((await get(router.port, host, '/ping')).status === 200) httpOk++;
          else httpFailures++;
        } catch {
          httpFailures++;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
  });
  after(async () => {
    traffic = false;
    await loop;
    await router?.stop();
    await backend?.kill();
    await ctl?.stop();
    await pebble?.stop();
  });

  test('certs:auto:enable issues a certificate; the router serves it within 5 s of issuance', async () => {
    const on = await ctl.api('POST', '/apps/shop/acm');
    assert.equal(on.status, 200, JSON.stringify(on.body));
    const issued = await eventually(async () => {
      const s = await ctl.api('GET', '/apps/shop/acm');
      const d = (s.body as { domains: { hostname: string; acm_status: string; acm_status_reason: string | null }[] }).domains.find((x) => x.hostname === host);
      if (d?.acm_status === 'Failing') throw new Error(`failing: ${d.acm_status_reason}`);
      return d?.acm_status === 'Cert issued' ? d : undefined;
    }, 60_000, 'Cert issued');
    assert.ok(issued);
    const rec = (await cluster.list(cluster.keys.certsOf('shop'))).entries[0]!;
    assert.equal(rec.kind, 'cert');
    const storedAt = (rec.value as { updatedAt: number }).updatedAt;
    const cert = await eventually(() => served(httpsPort, host, root), 5000, 'the router to serve the ACM certificate');
    const lag = Date.now() - storedAt;
    assert.ok(lag < 5000, `served ${lag} ms after issuance`);
    assert.match(cert.subjectAltName ?? '', new RegExp(`DNS:${host.replace(/\./g, '\\.')}`));
    const cli = await new Promise<string>((resolve) => {
      const p = spawn(process.execPath, [join(ROOT, 'bin/dynomesh.js'), 'certs:auto', '-a', 'shop'], {
        cwd: tmpdir(),
        env: { PATH: process.env.PATH, HOME: '/nonexistent', DYNOMESH_CONFIG: '/nonexistent/cli.json', DYNOMESH_API_URL: ctl.control.url, DYNOMESH_API_KEY: ADMIN, LANG: 'C' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      p.on('close', () => resolve(out));
    });
    assert.match(cli, /=== Automatic Certificate Management is enabled on ⬢ shop/);
    assert.match(cli, new RegExp(`${host.replace(/\./g, '\\.')} +Cert issued`));
  });

  test('certs:auto:refresh forces a renewal, and the renewed certificate is served', async () => {
    const before = (await served(httpsPort, host, root))!.serialNumber;
    assert.equal((await ctl.api('PATCH', '/apps/shop/acm', { acm_refresh: true })).status, 200);
    const renewed = await eventually(async () => {
      const c = await served(httpsPort, host, root);
      return c && c.serialNumber !== before ? c : undefined;
    }, 60_000, 'the renewed certificate');
    assert.notEqual(renewed.serialNumber, before);
    const s = await ctl.api('GET', '/apps/shop/acm');
    assert.equal((s.body as { domains: { hostname: string; acm_status: string }[] }).domains.find((x) => x.hostname === host)!.acm_status, 'Cert issued');
  });

  test('a domain whose validation fails shows Failing with the reason; the others keep their certificate', async () => {
    const bad = 'down.shop.localhost';
    await pebble.resolve(bad, '127.0.0.2'); // nothing answers there
    assert.equal((await ctl.api('POST', '/apps/shop/domains', { hostname: bad })).status, 201);
    const d = await eventually(async () => {
      const s = await ctl.api('GET', '/apps/shop/acm');
      const x = (s.body as { domains: { hostname: string; acm_status: string; acm_status_reason: string | null }[] }).domains.find((y) => y.hostname === bad);
      return x?.acm_status === 'Failing' ? x : undefined;
    }, 60_000, 'Failing');
    assert.match(d.acm_status_reason ?? '', /127\.0\.0\.2|connect|refused/i);
    assert.ok(await served(httpsPort, host, root), `${host} still served`);
  });

  test('plain HTTP was never blocked or dropped', () => {
    assert.ok(httpOk > 50, `${httpOk} plain requests`);
    assert.equal(httpFailures, 0);
  });
});
