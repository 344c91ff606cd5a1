/**
 * Drains are destinations a tenant picks: one to loopback, a private address,
 * link-local metadata, or a name resolving to them (through a real DNS server
 * on 127.0.0.53) is refused with one clear line when it is added; one whose name
 * turns private after it was added is refused when it connects, said once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from '../../cluster/client.ts';
import { useEtcd } from '../support/etcd.ts';
import { TestDns } from '../support/dns-server.ts';
import { startControls, waitFor } from './support.ts';

const etcd = useEtcd();

describe('drain destinations', () => {
  const dns = new TestDns(new Map([['loop.test', '127.0.0.1'], ['ten.test', '10.0.0.1'], ['meta.test', '169.254.169.254'], ['public.test', '93.184.216.34']]));
  let cluster: Cluster;
  let ctls: Awaited<ReturnType<typeof startControls>>;

  before(async () => {
    cluster = etcd.cluster();
    ctls = await startControls(etcd, cluster, 1, { egress: { dnsServers: [await dns.start()] } });
    assert.equal((await ctls[0]!.api('POST', '/apps', { name: 'drained' })).status, 201);
  });
  after(async () => {
    for (const c of ctls ?? []) await c.stop();
    dns.close();
  });

  test('loopback, private, metadata and names resolving to them are refused in one line', async () => {
    const api = ctls[0]!.api;
    const cases: [string, RegExp][] = [
      ['syslog://127.0.0.1:514', /^drain syslog:\/\/127\.0\.0\.1:514 refused: 127\.0\.0\.1 is a loopback address, which tenants may not reach \(an operator can allow it with --outbound-allow\)$/],
      ['syslog://10.0.0.1:514', /refused: 10\.0\.0\.1 is a private address/],
      ['http://169.254.169.254/latest/meta-data/', /refused: 169\.254\.169\.254 is a cloud metadata address/],
      ['https://[::1]:8443/logs', /refused: ::1 is a loopback address/],
      ['syslog://loop.test:514', /refused: loop\.test resolves to 127\.0\.0\.1, a loopback address/],
      ['https://u:secret@ten.test/logs', /^drain https:\/\/u:\*\*\*@ten\.test\/logs refused: ten\.test resolves to 10\.0\.0\.1, a private address/],
      ['http://meta.test/', /refused: meta\.test resolves to 169\.254\.169\.254, a cloud metadata address/],
    ];
    for (const [url, want] of cases) {
      const r = await api('POST', '/apps/drained/log-drains', { url });
      assert.equal(r.status, 422, url);
      assert.match(r.body.message, want, url);
      assert.ok(!r.body.message.includes('\n') && !r.body.message.includes('secret'), url);
    }
    assert.equal((await api('GET', '/apps/drained/log-drains')).body.length, 0, 'none was added');
    assert.equal((await api('POST', '/apps/drained/log-drains', { url: 'syslog://public.test:514' })).status, 201, 'a public name is fine');
  });

  test('a name that turns private after the drain was added is refused when it connects', async () => {
    const api = ctls[0]!.api;
    dns.records.set('flip.test', '93.184.216.35');
    assert.equal((await api('POST', '/apps/drained/log-drains', { url: 'syslog://flip.test:514' })).status, 201);
    dns.records.set('flip.test', '127.0.0.1');
    const drains = ctls[0]!.control.logs!.drains;
    const out = await waitFor(() => [...(drains as unknown as { outputs: Map<string, { drain: { url: string }; stats: { failures: number } }> }).outputs.values()].find((o) => o.drain.url === 'syslog://flip.test:514'), 5000, 'output');
    ctls[0]!.control.logs!.events.emit('drained', 'a line for the drain');
    await waitFor(() => out.stats.failures > 0, 5000, 'refused at connect');
  });
});
