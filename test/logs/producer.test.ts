/**
 * The producer side against real log services: a full buffer drops and says so
 * (L10) instead of blocking; lines written before any log service exists are
 * delivered once one registers; a gracefully stopped owner hands its history to
 * the next owner, and producers follow.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from '../../cluster/client.ts';
import { ownerOf } from '../../logplex/owners.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { ADMIN } from '../control/support.ts';
import { createApp } from '../../control/apps.ts';
import { clusterKeyFile, parseLine, producer, startControls, waitFor } from './support.ts';

const etcd = useEtcd();

async function history(url: string, app: string, q = 'lines=1500'): Promise<string[]> {
  const r = await fetch(`${url}/apps/${app}/logs?${q}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.text()).split('\n').filter(Boolean);
}

describe('log producers', () => {
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  });

  test('with no log service yet, write() returns at once; overflow is counted and reported as L10', async () => {
    const cluster: Cluster = etcd.cluster();
    const key = clusterKeyFile();
    const ship = await producer(cluster, key.key, { maxBuffered: 100 });
    stops.push(() => ship.close(0));
    const t0 = performance.now();
    for (let i = 0; i < 250; i++) ship.write({ app: 'early', source: 'app', dyno: 'web.1', line: `e${i}` });
    assert.ok(performance.now() - t0 < 200, 'write never waits for the network');
    assert.deepEqual(ship.stats, { buffered: 100, acked: 0, dropped: 150 });

    // The app exists before any log service does (lines for apps that do not exist are refused).
    await createApp({ cluster, clusterKey: key.key }, 'early', 'admin');
    const [ctl] = await startControls(etcd, cluster, 1, { clusterKeyPath: key.path });
    stops.push(() => ctl!.stop());
    const lines = await eventually(async () => {
      const h = await history(ctl!.control.url, 'early');
      return h.some((l) => l.includes('Error L10')) && h.filter((l) => / app\[web\.1\]: e\d+$/.test(l)).length === 100 ? h : undefined;
    }, 10_000, 'buffered lines and the L10 line');
    const kept = lines.filter((l) => / app\[web\.1\]: e\d+$/.test(l)).map((l) => parseLine(l)!.text);
    assert.deepEqual(kept, Array.from({ length: 100 }, (_v, i) => `e${i}`), 'the oldest 100 were kept, in order');
    const l10 = lines.find((l) => l.includes('Error L10'))!;
    assert.match(l10, / heroku\[logplex\]: Error L10 \(output buffer overflow\): 150 messages dropped since \d{4}-\d\d-\d\dT[\d:.]+\+00:00\.$/);
  });

  test('a joining instance takes over its apps with their history; tails there are cut so readers resume', async () => {
    const cluster: Cluster = etcd.cluster();
    const [first] = await startControls(etcd, cluster, 1);
    stops.push(() => first!.stop());
    const ship = await producer(cluster, first!.control.ctx.clusterKey);
    stops.push(() => ship.close(0));
    await waitFor(() => ship.members.list().length === 1, 5000, 'member');
    const apps = Array.from({ length: 12 }, (_v, i) => `join-${i}`);
    for (const a of apps) {
      assert.equal((await first!.api('POST', '/apps', { name: a })).status, 201);
      for (let i = 0; i < 20; i++) ship.write({ app: a, source: 'app', dyno: 'web.1', line: `old ${i}` });
    }
    await waitFor(() => ship.stats.buffered === 0, 5000, 'acked');
    const tails = apps.map((a) => {
      const ctl = new AbortController();
      const r = fetch(`${first!.control.url}/apps/${a}/logs?tail=true&lines=0`, { headers: { authorization: `Bearer ${ADMIN}` }, signal: ctl.signal })
        .then(async (res) => {
          for await (const _c of res.body as unknown as AsyncIterable<Uint8Array>) { /* reading */ }
          return 'ended';
        }, (e: Error) => e.name)
        .catch((e: Error) => `broke: ${e.message}`);
      return { a, r, ctl };
    });
    await new Promise((r) => setTimeout(r, 200));

    const [second] = await startControls(etcd, cluster, 1, { clusterKeyPath: first!.control.opts.clusterKeyPath });
    stops.push(() => second!.stop());
    await waitFor(() => ship.members.list().length === 2 && first!.control.logs!.members.list().length === 2, 5000, 'two members');
    const moved = apps.filter((a) => ship.members.owner(a)!.id === second!.control.opts.id);
    assert.ok(moved.length > 0 && moved.length < apps.length, `some apps moved (${moved.length})`);
    for (const a of moved) ship.write({ app: a, source: 'app', dyno: 'web.1', line: 'new' });
    for (const a of moved) {
      const lines = await eventually(async () => {
        const h = (await history(second!.control.url, a, 'lines=100&dyno=web.1')).map((l) => parseLine(l)!.text);
        return h.length === 21 ? h : undefined;
      }, 5000, `history of ${a} on the new owner`);
      assert.deepEqual(lines, [...Array.from({ length: 20 }, (_v, i) => `old ${i}`), 'new']);
    }
    // Tails of moved apps on the old owner were cut (not ended cleanly); the others run on.
    for (const t of tails.filter((x) => moved.includes(x.a))) assert.match(String(await t.r), /broke|terminated/i);
    for (const t of tails.filter((x) => !moved.includes(x.a))) t.ctl.abort();
  });

  test('a gracefully stopped owner hands its history over; producers reroute; nothing is lost', async () => {
    const cluster: Cluster = etcd.cluster();
    const ctls = await startControls(etcd, cluster, 2);
    for (const c of ctls) stops.push(() => c.stop());
    const ship = await producer(cluster, ctls[0]!.control.ctx.clusterKey);
    stops.push(() => ship.close(0));
    await waitFor(() => ship.members.list().length === 2 && ctls.every((c) => c.control.logs!.members.list().length === 2), 5000, 'members');
    const members = ship.members.list();
    const app = Array.from({ length: 50 }, (_v, i) => `hand-${i}`).find((a) => ownerOf(a, members)!.id === ctls[0]!.control.opts.id)!;
    assert.equal((await ctls[1]!.api('POST', '/apps', { name: app })).status, 201);
    for (let i = 0; i < 300; i++) ship.write({ app, source: 'app', dyno: 'web.1', line: `before ${i}` });
    await waitFor(() => ship.stats.buffered === 0, 5000, 'acked');

    await ctls[0]!.stop(); // revokes its lease: the member leaves at once and hands its apps over
    await waitFor(() => ship.members.list().length === 1, 5000, 'the producer saw it leave');
    for (let i = 0; i < 300; i++) ship.write({ app, source: 'app', dyno: 'web.1', line: `after ${i}` });
    const lines = await eventually(async () => {
      const h = (await history(ctls[1]!.control.url, app, 'lines=1500&dyno=web.1')).map((l) => parseLine(l)!.text);
      return h.length >= 600 ? h : undefined;
    }, 10_000, 'history on the new owner');
    assert.deepEqual(lines, [...Array.from({ length: 300 }, (_v, i) => `before ${i}`), ...Array.from({ length: 300 }, (_v, i) => `after ${i}`)]);
  });
});
