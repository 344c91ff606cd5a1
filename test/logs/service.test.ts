/**
 * The log service on real etcd with two control instances: producers ship to
 * the owner, any instance serves history and tails (forwarding to the owner),
 * `lines=1500` is exactly the newest 1500, filters, platform events, L11.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from '../../cluster/client.ts';
import { ownerOf } from '../../logplex/owners.ts';
import type { LogShipper } from '../../logplex/shipper.ts';
import { Readable } from 'node:stream';
import { deployRelease } from '../../control/releases.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { ADMIN, client } from '../control/support.ts';
import { LineReader, parseLine, producer, rawProducer, startControls, waitFor } from './support.ts';

const etcd = useEtcd();

describe('log service', () => {
  let cluster: Cluster;
  let ctls: Awaited<ReturnType<typeof startControls>>;
  let ship: LogShipper;

  before(async () => {
    cluster = etcd.cluster();
    ctls = await startControls(etcd, cluster, 2);
    await waitFor(() => ctls.every((c) => c.control.logs!.members.list().length === 2), 5000, 'both log members seen');
    ship = await producer(cluster, ctls[0]!.control.ctx.clusterKey);
    await waitFor(() => ship.members.list().length === 2, 5000, 'producer sees both members');
  });
  after(async () => {
    await ship?.close();
    for (const c of ctls ?? []) await c.stop();
  });

  /** An app owned by instance `i`, created through the API. */
  async function appOwnedBy(i: number, prefix: string): Promise<string> {
    const members = ctls[0]!.control.logs!.members.list();
    for (let n = 0; ; n++) {
      const name = `${prefix}-${n}`;
      if (ownerOf(name, members)!.id === ctls[i]!.control.opts.id) {
        assert.equal((await ctls[0]!.api('POST', '/apps', { name })).status, 201);
        // The app's first lines ("Release v1 created") are in before the test writes its own.
        await eventually(() => ctls[i]!.control.logs!.service.store.get(name)?.last(5).some((e) => e.text.includes('Release v1 created')), 5000, 'initial release lines');
        return name;
      }
    }
  }

  const logsUrl = (i: number, app: string, q: string) => `${ctls[i]!.control.url}/apps/${app}/logs?${q}`;

  test('history from either instance; lines=1500 is exactly the newest 1500, in order', async () => {
    const app = await appOwnedBy(0, 'hist');
    for (let i = 0; i < 2000; i++) ship.write({ app, source: 'app', dyno: 'web.1', line: `line ${i}` });
    await waitFor(() => ship.stats.buffered === 0 && ship.stats.acked >= 2000, 10_000, 'all acked');
    for (const i of [0, 1]) {
      const r = await fetch(logsUrl(i, app, 'lines=1500&source=app&dyno=web.1'), { headers: { authorization: `Bearer ${ADMIN}` } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('dynomesh-log-owner'), ctls[0]!.control.opts.id);
      const lines = (await r.text()).trimEnd().split('\n');
      assert.equal(lines.length, 1500, `instance ${i}`);
      assert.equal(parseLine(lines[0]!)!.text, 'line 500');
      assert.equal(parseLine(lines[1499]!)!.text, 'line 1999');
      for (let k = 0; k < 1500; k++) assert.equal(parseLine(lines[k]!)!.text, `line ${500 + k}`);
      assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00 app\[web\.1\]: line 500$/);
    }
    // The default is 100 lines; over 1500 is refused with a clear message.
    const def = await (await fetch(logsUrl(1, app, ''), { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    assert.equal(def.trimEnd().split('\n').length, 100);
    const bad = await client(ctls[1]!.control.url)('GET', `/apps/${app}/logs?lines=1501`);
    assert.equal(bad.status, 422);
    assert.match(bad.body.message, /lines must be a whole number from 0 to 1500/);
    assert.equal((await client(ctls[1]!.control.url)('GET', '/apps/nope/logs')).status, 404);
    assert.equal((await client(ctls[1]!.control.url, null)('GET', `/apps/${app}/logs`)).status, 401);
  });

  test('platform events (config, scale) as app[api]; a tail through the non-owner sees them live', async () => {
    const app = await appOwnedBy(1, 'events');
    const tail = new LineReader(logsUrl(0, app, 'tail=true&lines=0&source=api'));
    await waitFor(() => tail.status === 200, 5000, 'tail connected');
    const api = ctls[0]!.api;
    assert.equal((await api('PATCH', `/apps/${app}/config-vars`, { FOO: 'bar' })).status, 200);
    ship.write({ app, source: 'app', dyno: 'web.1', line: 'not an api line' });
    const set = await waitFor(() => tail.lines.find((l) => l.includes('Set FOO config vars')), 5000, 'config line');
    assert.match(set, / app\[api\]: Set FOO config vars by \S+$/);
    const rel = await waitFor(() => tail.lines.find((l) => /Release v\d+ created by/.test(l)), 5000, 'release line');
    assert.ok(tail.lines.indexOf(set) < tail.lines.indexOf(rel));
    assert.ok(!tail.lines.some((l) => l.includes('not an api line')), 'source=api filters dyno lines out');
    tail.close();
  });

  test('deploy, scale and rollback as app[api] lines, worded as Heroku\'s', async () => {
    const app = await appOwnedBy(0, 'plat');
    const ctx = ctls[0]!.control.ctx;
    const stored = await ctx.slugs.put(Readable.from([Buffer.from('slug bytes')]));
    await deployRelease(ctx, app, { slug: { id: stored.sha256, sha256: stored.sha256, size: stored.size }, processTypes: { web: 'node server.js', worker: 'node w.js' }, author: 'dev@example.com' });
    const api = ctls[1]!.api;
    // Lines from different instances race (Heroku does not order across sources either): step by step.
    const apiText = async () => (await fetch(logsUrl(1, app, 'source=api&lines=20'), { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    await eventually(async () => (await apiText()).includes('Release v2 created'), 5000, 'deploy lines');
    assert.equal((await api('PATCH', `/apps/${app}/formation`, { updates: [{ type: 'web', quantity: 3 }, { type: 'worker', quantity: 1, size: 'standard-2x' }] })).status, 200);
    await eventually(async () => (await apiText()).includes('Scaled to'), 5000, 'scale line');
    assert.equal((await api('POST', `/apps/${app}/releases`, { release: 1 })).status, 201);
    const want = [
      'Initial release by admin',
      'Release v1 created by admin',
      `Deploy ${stored.sha256.slice(0, 7)} by dev@example.com`,
      /Release v\d+ created by dev@example\.com/,
      'Scaled to web@3:Standard-1X worker@1:Standard-2X by admin',
      'Rollback to v1 by admin',
      /Release v\d+ created by admin/,
    ];
    const lines = await eventually(async () => {
      const text = await (await fetch(logsUrl(1, app, 'source=api&lines=20'), { headers: { authorization: `Bearer ${ADMIN}` } })).text();
      const l = text.split('\n').filter(Boolean).map((x) => parseLine(x)!);
      return l.length >= want.length ? l : undefined;
    }, 5000, 'api lines').catch(async (e: Error) => {
      throw new Error(e.message + '\n' + (await (await fetch(logsUrl(1, app, 'lines=20'), { headers: { authorization: `Bearer ${ADMIN}` } })).text()));
    });
    const texts = lines.map((l) => l.text);
    assert.equal(texts.length, want.length, texts.join('\n'));
    for (const [i, w] of want.entries()) {
      if (typeof w === 'string') assert.equal(texts[i], w, texts.join('\n'));
      else assert.match(texts[i]!, w);
    }
    assert.ok(lines.every((l) => l.source === 'app' && l.dyno === 'api'));
  });

  test('filters: source=heroku, dyno=web (type) and dyno=web.2', async () => {
    const app = await appOwnedBy(0, 'filter');
    const recs = [
      { source: 'app', dyno: 'web.1', line: 'a1' }, { source: 'app', dyno: 'web.2', line: 'a2' },
      { source: 'app', dyno: 'worker.1', line: 'w1' }, { source: 'heroku', dyno: 'router', line: 'at=info r1' },
      { source: 'heroku', dyno: 'web.1', line: 'State changed from starting to up' },
    ] as const;
    for (const r of recs) ship.write({ app, ...r });
    const get = async (q: string) => {
      const text = await (await fetch(logsUrl(1, app, q), { headers: { authorization: `Bearer ${ADMIN}` } })).text();
      return text.trimEnd().split('\n').filter(Boolean).map((l) => parseLine(l)!.text);
    };
    await waitFor(() => ship.stats.buffered === 0, 5000, 'acked');
    assert.deepEqual(await get('source=heroku'), ['at=info r1', 'State changed from starting to up']);
    assert.deepEqual(await get('dyno=web'), ['a1', 'a2', 'State changed from starting to up']);
    assert.deepEqual(await get('dyno=web.2'), ['a2']);
    assert.deepEqual(await get('source=app&dyno=web'), ['a1', 'a2']);
    assert.equal((await client(ctls[1]!.control.url)('GET', `/apps/${app}/logs?source=db`)).status, 422);
  });

  test('a destroyed app\'s lines are dropped by the sweep; its logs are 404', async () => {
    const app = await appOwnedBy(0, 'gone');
    ship.write({ app, source: 'app', dyno: 'web.1', line: 'bye' });
    await waitFor(() => ship.stats.buffered === 0, 5000, 'acked');
    const logs = ctls[0]!.control.logs!;
    assert.deepEqual(await logs.sweepDestroyed(), [], 'nothing to drop while it exists');
    assert.ok(logs.service.store.get(app));
    assert.equal((await ctls[1]!.api('DELETE', `/apps/${app}`)).status, 200);
    assert.deepEqual(await logs.sweepDestroyed(), [app]);
    assert.equal(logs.service.store.get(app), undefined);
    assert.equal((await ctls[1]!.api('GET', `/apps/${app}/logs`)).status, 404);
  });

  test('a batch sent to the wrong instance is acked and forwarded to the owner; past 3 hops it is kept', async () => {
    const app = await appOwnedBy(0, 'wrong');
    const { BATCH } = await import('../../logplex/wire.ts');
    const { sock, acks, send } = await rawProducer(ctls[1]!.control.logs!.service.address, ctls[0]!.control.ctx.clusterKey, 'control:peer');
    send([BATCH, 7, 0, [[app, 'app', 'web.1', Date.now() * 1000, 'misrouted']]]);
    send([BATCH, 8, 3, [[app, 'app', 'web.1', Date.now() * 1000, 'bounced too often']]]);
    await waitFor(() => acks.length === 2, 5000, 'acks');
    assert.deepEqual(acks, [7, 8]);
    await waitFor(() => ctls[0]!.control.logs!.service.store.get(app)?.last(5).some((e) => e.rec.line === 'misrouted'), 5000, 'forwarded to the owner');
    assert.ok(ctls[1]!.control.logs!.service.store.get(app)?.last(5).some((e) => e.rec.line === 'bounced too often'));
    sock.destroy();
  });

  test('log-sessions: logplex_url streams without a token; a forged one is refused', async () => {
    const app = await appOwnedBy(0, 'sess');
    ship.write({ app, source: 'app', dyno: 'web.1', line: 'via session' });
    await waitFor(() => ship.stats.buffered === 0, 5000, 'acked');
    const r = await ctls[1]!.api('POST', `/apps/${app}/log-sessions`, { lines: 10, dyno: 'web.1' });
    assert.equal(r.status, 201);
    assert.match(r.body.logplex_url, /\/log-sessions\//);
    const text = await (await fetch(r.body.logplex_url)).text();
    assert.match(text, /app\[web\.1\]: via session\n$/);
    // Change a character well inside the token: the last base64url character carries 2 unused bits,
    // so flipping it can leave the decoded bytes (and a valid signature) unchanged.
    const url = r.body.logplex_url as string;
    const at = url.length - 10;
    const forged = await fetch(url.slice(0, at) + (url[at] === 'A' ? 'B' : 'A') + url.slice(at + 1));
    assert.equal(forged.status, 401);
  });

  test('a tail that stops reading is cut off with L11 instead of growing memory', async () => {
    const app = await appOwnedBy(0, 'slow');
    const { request } = await import('node:http');
    const url = new URL(logsUrl(0, app, 'tail=true&lines=0'));
    // A reader that never reads: pause the response and let buffers fill.
    const res = await new Promise<import('node:http').IncomingMessage>((resolve) => {
      request(url, { headers: { authorization: `Bearer ${ADMIN}` } }, resolve).end();
    });
    res.pause();
    const big = 'x'.repeat(2000);
    for (let round = 0; round < 60; round++) {
      for (let i = 0; i < 1000; i++) ship.write({ app, source: 'app', dyno: 'web.1', line: `${round}-${i} ${big}` });
      await new Promise((r) => setTimeout(r, 30));
      if (res.socket?.destroyed || (res as unknown as { complete: boolean }).complete) break;
    }
    // Now read what was sent: it ends with the L11 line, and the stream ends cleanly.
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.resume();
    await new Promise((r) => res.on('end', r));
    const text = Buffer.concat(chunks).toString();
    const last = text.trimEnd().split('\n').pop()!;
    assert.match(last, /heroku\[logplex\]: Error L11 \(Tail buffer overflow\): this tail session dropped \d+ messages/);
    assert.ok(text.length < 64 * 1024 * 1024, 'bounded');
  });
});
