/**
 * The outbound guard for tenant-driven requests (lib/egress.ts): loopback,
 * private, link-local and metadata addresses are refused, as literals, through a
 * real DNS resolver (a test server on 127.0.0.53), and after a redirect; the
 * operator's allowlist lets one through; public addresses pass.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { Egress, EgressRefused, forbiddenRange } from '../../lib/egress.ts';
import { TestDns } from '../support/dns-server.ts';

describe('egress guard', () => {
  const dns = new TestDns(new Map([
    ['loop.test', '127.0.0.1'], ['ten.test', '10.0.0.1'], ['meta.test', '169.254.169.254'], ['public.test', '93.184.216.34'],
  ]));
  let egress: Egress;
  let server: Server;
  let port = 0;

  before(async () => {
    egress = new Egress({ dnsServers: [await dns.start()] });
    server = createServer((req, res) => {
      if (req.url === '/to-meta') res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      else if (req.url === '/to-loop-name') res.writeHead(302, { location: `http://loop.test:${port}/` }).end();
      else res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    dns.close();
    await egress.close();
    await new Promise((r) => server.close(r));
  });

  test('ranges', () => {
    for (const [ip, want] of [
      ['127.0.0.1', 'a loopback address'], ['10.0.0.1', 'a private address'], ['172.31.255.255', 'a private address'],
      ['192.168.1.1', 'a private address'], ['169.254.169.254', 'a cloud metadata address'], ['169.254.1.1', 'a link-local address'],
      ['::1', 'a loopback address'], ['::ffff:127.0.0.1', 'a loopback address'], ['fe80::1', 'a link-local address'],
      ['fd12::1', 'a unique-local address'], ['0.0.0.0', 'an unspecified address'], ['100.64.0.1', 'a shared (CGNAT) address'],
    ] as const) assert.equal(forbiddenRange(ip), want, ip);
    for (const ip of ['93.184.216.34', '1.1.1.1', '2606:4700::1111', '172.32.0.1']) assert.equal(forbiddenRange(ip), undefined, ip);
  });

  test('literals and names resolving to forbidden addresses are refused with one line', async () => {
    for (const host of ['127.0.0.1', '10.0.0.1', '169.254.169.254', '[::1]']) {
      await assert.rejects(egress.check(host, 514, 'drain'), (e: Error) => e instanceof EgressRefused && /^drain refused: \S+ is a .* address, which tenants may not reach/.test(e.message) && !e.message.includes('\n'), host);
    }
    await assert.rejects(egress.check('loop.test', 514, 'drain'), /: drain refused: loop\.test resolves to 127\.0\.0\.1, a loopback address, which tenants may not reach/);
    await assert.rejects(egress.check('ten.test', 514, 'drain'), /resolves to 10\.0\.0\.1, a private address/);
    await assert.rejects(egress.check('meta.test', 80, 'drain'), /resolves to 169\.254\.169\.254, a cloud metadata address/);
    await egress.check('nothing.test', 80, 'drain'); // checked when it connects, whatever it resolves to then
    await egress.check('public.test', 443, 'drain');
  });

  test('the connect-time lookup refuses too (what a socket to a drain uses)', async () => {
    const err = await new Promise<Error>((resolve) => {
      const s = connect(egress.connectOptions('loop.test', port));
      s.on('error', resolve);
      s.on('connect', () => resolve(new Error('connected')));
    });
    assert.ok(err instanceof EgressRefused, err.message);
    assert.throws(() => egress.connectOptions('127.0.0.1', port, 'drain'), /^EgressRefused: drain refused: 127\.0\.0\.1 is a loopback address/);
  });

  test('fetch: refused literal, refused name, and a redirect to metadata are all refused', async () => {
    const allowed = new Egress({ dnsServers: [dns.address], allow: [{ cidr: '127.0.0.1/32', port }] });
    try {
      assert.equal(await (await allowed.fetch(`http://127.0.0.1:${port}/`)).text(), 'ok', 'the allowlist lets the operator\'s address through');
      await assert.rejects(allowed.fetch(`http://127.0.0.1:${port}/to-meta`, {}, 'source_blob.url'), /^EgressRefused: source_blob\.url refused: 169\.254\.169\.254 is a cloud metadata address/);
      await assert.rejects(allowed.fetch(`http://127.0.0.1:${port + 1 === 65536 ? 1 : port + 1}/`), /127\.0\.0\.1 is a loopback address/, 'the allowlist names a port');
    } finally {
      await allowed.close();
    }
    await assert.rejects(egress.fetch(`http://127.0.0.1:${port}/`, {}, 'source_blob.url'), /source_blob\.url refused: 127\.0\.0\.1 is a loopback address/);
    await assert.rejects(egress.fetch(`http://loop.test:${port}/`, {}, 'source_blob.url'), /source_blob\.url refused: loop\.test resolves to 127\.0\.0\.1/);
    await assert.rejects(egress.fetch('file:///etc/passwd'), /file: is not http or https/);
  });
});
