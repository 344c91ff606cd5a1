/**
 * The log ingestion port as an attacker sees it: a batch without a credential,
 * with a forged one or one of another cluster is refused and counted; a router
 * credential cannot write dyno lines, a node's cannot write router lines; lines
 * for apps that do not exist allocate nothing; oversized frames and lines are
 * refused; a valid producer is unaffected; the counters are on GET /metrics.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Cluster } from '../../cluster/client.ts';
import { deriveCredential } from '../../logplex/credential.ts';
import type { LogShipper } from '../../logplex/shipper.ts';
import { enrolNode } from '../../cluster/node-credential.ts';
import { AUTH, BATCH, HANDOFF, MAX_FRAME, type Frame } from '../../logplex/wire.ts';
import type { LogService } from '../../control/logs/service.ts';
import { useEtcd } from '../support/etcd.ts';
import { ADMIN } from '../control/support.ts';
import { producer, rawProducer, startControls, waitFor } from './support.ts';

const etcd = useEtcd();
const now = () => Date.now() * 1000;
const oneOff = (app: string) => ({ app, dyno: 'run.1', type: 'run', release: 1, size: 'standard-1x', memoryMb: 512, restartNonce: 0, createdAt: Date.now(), command: 'true' });

describe('log ingestion', () => {
  let cluster: Cluster;
  let ctls: Awaited<ReturnType<typeof startControls>>;
  let service: LogService;
  let key: Buffer;
  const app = 'ingest-app';

  before(async () => {
    cluster = etcd.cluster();
    ctls = await startControls(etcd, cluster, 1);
    service = ctls[0]!.control.logs!.service;
    key = ctls[0]!.control.ctx.clusterKey;
    assert.equal((await ctls[0]!.api('POST', '/apps', { name: app })).status, 201);
    // Node producers log only while enrolled (nodes:enroll).
    assert.equal((await ctls[0]!.api('POST', '/nodes/n1/credential', {})).status, 201);
    await waitFor(() => ctls[0]!.control.logs!.nodes.has('n1'), 5000, 'n1 enrolled');
    // ...and write only for apps placed on them (a one-off placement, which the scheduler leaves alone).
    await cluster.put(cluster.keys.placement('n1', app, 'run.1'), oneOff(app));
    await waitFor(() => ctls[0]!.control.logs!.placed.has('n1', app), 5000, 'placed on n1');
  });
  after(async () => {
    for (const c of ctls ?? []) await c.stop();
  });

  const lines = (a = app) => service.store.get(a)?.entries().map((e) => e.rec.line) ?? [];

  test('no credential, a forged proof or another cluster\'s credential: closed before any record is read, counted', async () => {
    const refused = service.metrics.refusedConnections;
    const before = { ...refused };
    const batch: Frame = [BATCH, 1, 0, [[app, 'heroku', 'router', now(), 'at=info forged']]];

    const none = await rawProducer(service.address, undefined, 'router:x', null);
    none.send(batch);
    await waitFor(() => none.closed, 5000, 'closed without AUTH');

    const forged = await rawProducer(service.address, undefined, 'router:r1'); // a proof of zeros
    forged.send(batch);
    await waitFor(() => forged.closed, 5000, 'closed on a forged proof');

    const other = await rawProducer(service.address, randomBytes(32), 'router:r1');
    other.send(batch);
    await waitFor(() => other.closed, 5000, 'closed on another cluster\'s credential');

    // An AUTH frame padded past the pre-auth limit is a bad frame, not a big allocation.
    const big = await rawProducer(service.address, undefined, 'router:x', [AUTH, 'router:x', Buffer.alloc(4096)]);
    await waitFor(() => big.closed, 5000, 'closed on an oversized AUTH');

    assert.deepEqual(none.acks.concat(forged.acks, other.acks), [], 'nothing acked');
    assert.equal(refused['no-credential'] - before['no-credential'], 1);
    assert.equal(refused['bad-credential'] - before['bad-credential'], 2);
    assert.equal(refused['bad-frame'] - before['bad-frame'], 1);
    assert.ok(!lines().includes('at=info forged'));
  });

  test('a router credential writes router lines only; a node credential dyno lines only; neither relays', async () => {
    const m = service.metrics.refusedRecords;
    const before = m['not-allowed'];
    const router = await rawProducer(service.address, key, 'router:r1');
    router.send([BATCH, 1, 0, [
      [app, 'heroku', 'router', now(), 'at=info from the router'],
      [app, 'app', 'web.1', now(), 'router pretending to be a dyno'],
      [app, 'app', 'api', now(), 'router pretending to be the platform'],
    ]]);
    router.send([BATCH, 2, 1, [[app, 'heroku', 'router', now(), 'router relaying']]]);
    router.send([HANDOFF, app, [[app, 'app', 'web.1', now(), 'router handing off']]]);
    const node = await rawProducer(service.address, key, 'node:n1');
    node.send([BATCH, 1, 0, [
      [app, 'app', 'web.1', now(), 'from the dyno'],
      [app, 'heroku', 'web.1', now(), 'State changed from starting to up'],
      [app, 'heroku', 'router', now(), 'at=info node pretending to be the router'],
      [app, 'heroku', 'logplex', now(), 'Error L11 node pretending to be logplex'],
    ]]);
    await waitFor(() => router.acks.length === 2 && node.acks.length === 1, 5000, 'acks (refused records are acked, not resent)');
    await waitFor(() => lines().includes('from the dyno'), 5000, 'node line stored');
    const got = lines();
    for (const l of ['at=info from the router', 'from the dyno', 'State changed from starting to up']) assert.ok(got.includes(l), l);
    for (const l of got) assert.doesNotMatch(l, /pretending|relaying|handing off/);
    assert.equal(m['not-allowed'] - before, 6);
  });

  test('lines for apps that do not exist allocate nothing; bad records and 10,000-byte+ lines are dropped', async () => {
    const m = service.metrics.refusedRecords;
    const before = { ...m };
    const held = service.store.appNames().length;
    const node = await rawProducer(service.address, key, 'node:n1');
    const ghosts = Array.from({ length: 500 }, (_v, i) => [`ghost-${i}`, 'app', 'web.1', now(), 'boo'] as [string, 'app', string, number, string]);
    node.send([BATCH, 1, 0, ghosts]);
    node.send([BATCH, 2, 0, [
      [app, 'app', 'web.1', now(), 'x'.repeat(10_001)],
      [app, 'app', 'web.1', now(), 'é'.repeat(5001)],
      [app, 'app', 'web.1', now(), 'y'.repeat(10_000)],
      ['Not/An/App', 'app', 'web.1', now(), 'bad name'],
      [app, 'app', 'web.1', 'soon', 'bad time'],
      [app, 'app', 'web.1', now()],
    ] as never]);
    // Even a control peer's lines for a missing app are refused once etcd says it does not exist.
    const peer = await rawProducer(service.address, key, 'control:peer');
    peer.send([BATCH, 1, 0, [['ghost-peer', 'app', 'api', now(), 'Release v1 created']]]);
    await waitFor(() => node.acks.length === 2 && peer.acks.length === 1, 5000, 'acks');
    await waitFor(() => m['unknown-app'] - before['unknown-app'] === 501, 5000, 'unknown apps counted');
    assert.equal(service.store.appNames().length, held, 'no app log was allocated');
    assert.equal(m.invalid - before.invalid, 5);
    await waitFor(() => lines().includes('y'.repeat(10_000)), 5000, 'a line of exactly 10,000 bytes is kept');
  });

  test('a frame over the limit closes the connection before it is buffered', async () => {
    const before = service.metrics.refusedConnections['bad-frame'];
    const node = await rawProducer(service.address, key, 'node:n1');
    await new Promise((r) => setTimeout(r, 50));
    const head = Buffer.alloc(4);
    head.writeUInt32BE(MAX_FRAME + 1);
    node.sock.write(head);
    await waitFor(() => node.closed, 5000, 'closed');
    assert.equal(service.metrics.refusedConnections['bad-frame'] - before, 1);
  });

  test('a valid router and node producer are unaffected; counters on GET /metrics (admin only)', async () => {
    const ships: LogShipper[] = [];
    const records = service.metrics.records;
    const refused = Object.values(service.metrics.refusedRecords).reduce((a, b) => a + b);
    try {
      ships.push(await producer(cluster, key, {}, 'router:r1'), await producer(cluster, key, {}, 'node:n1'));
      await waitFor(() => ships.every((s) => s.members.list().length === 1), 5000, 'members');
      for (let i = 0; i < 2000; i++) ships[0]!.write({ app, source: 'heroku', dyno: 'router', line: `at=info n=${i}` });
      for (let i = 0; i < 2000; i++) ships[1]!.write({ app, source: 'app', dyno: 'web.1', line: `dyno ${i} ${'z'.repeat(i % 3 === 0 ? 12_000 : 10)}` });
      await waitFor(() => ships.every((s) => s.stats.buffered === 0), 10_000, 'all acked');
      assert.deepEqual(ships.map((s) => s.stats.dropped), [0, 0]);
      // 667 of the dyno lines are over 10,000 bytes and were split in two by the producer.
      assert.equal(service.metrics.records - records, 2000 + 2000 + 667);
      assert.equal(Object.values(service.metrics.refusedRecords).reduce((a, b) => a + b), refused, 'nothing refused');
      assert.ok(lines().some((l) => l.startsWith('dyno 1999 ')));
    } finally {
      for (const s of ships) await s.close(0);
    }
    const url = `${ctls[0]!.control.url}/metrics`;
    const res = await fetch(url, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^dynomesh_log_connections_refused_total\{reason="bad-credential"\} [1-9]\d*$/m);
    assert.match(text, /^dynomesh_log_records_refused_total\{reason="unknown-app"\} [1-9]\d*$/m);
    assert.match(text, /^dynomesh_log_records_total \d+$/m);
    assert.equal((await fetch(url)).status, 401);
  });

  test('credentials: derived per producer, so one producer\'s secret says nothing of another\'s', () => {
    const a = deriveCredential(key, 'router:r1');
    assert.notDeepEqual(a.secret, deriveCredential(key, 'router:r2').secret);
    assert.notDeepEqual(a.secret, deriveCredential(randomBytes(32), 'router:r1').secret);
    assert.throws(() => deriveCredential(key, 'admin:root'), /not a producer id/);
  });
  test('a node logs only while enrolled: a revoked node is closed at once and refused after', async () => {
    await enrolNode(cluster, key, 'n7', 'test');
    await waitFor(() => ctls[0]!.control.logs!.nodes.has('n7'), 5000, 'n7 enrolled');
    const live = await rawProducer(service.address, key, 'node:n7');
    const refused = service.metrics.refusedConnections['bad-credential'];
    assert.equal((await ctls[0]!.api('DELETE', '/nodes/n7/credential')).status, 200);
    await waitFor(() => live.closed, 5000, 'the revoked node\'s open connection closed');
    const again = await rawProducer(service.address, key, 'node:n7');
    await waitFor(() => again.closed, 5000, 'a new connection refused');
    assert.equal(service.metrics.refusedConnections['bad-credential'], refused + 1);
    const never = await rawProducer(service.address, key, 'node:never-enrolled');
    await waitFor(() => never.closed, 5000, 'a node never enrolled is refused');
  });
  test('a node writes only into the streams of apps placed on it', async () => {
    assert.equal((await ctls[0]!.api('POST', '/apps', { name: 'elsewhere' })).status, 201);
    await waitFor(() => ctls[0]!.control.logs!.apps.has('elsewhere'), 5000, 'app known');
    const before = service.metrics.refusedRecords['not-allowed'];
    const node = await rawProducer(service.address, key, 'node:n1');
    node.send([BATCH, 1, 0, [['elsewhere', 'app', 'web.1', now(), 'forged into another app']]]);
    await waitFor(() => node.acks.includes(1) || undefined, 5000, 'ack');
    assert.equal(service.metrics.refusedRecords['not-allowed'], before + 1);
    assert.ok(!lines('elsewhere').includes('forged into another app'));
    node.sock.destroy();
  });
});
