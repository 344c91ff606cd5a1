/**
 * Units behind the hot-path work (issue 5): the copy-on-write route table maps,
 * rings shared by dyno names, the worker snapshot, the batched access log (the
 * same records pino writes), and the workers' metrics sum.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { pack, unpack } from 'msgpackr';
import { CowMap } from '../../router/table/cow-map.ts';
import { Ring } from '../../router/balancer/ring.ts';
import { TableBuilder } from '../../router/table/builder.ts';
import type { Delta } from '../../router/table/delta.ts';
import { AccessLog } from '../../router/log-line.ts';
import { Metrics } from '../../router/metrics.ts';
import { useEtcd } from '../support/etcd.ts';
import type { Op } from '../../cluster/client.ts';

const etcd = useEtcd();

const app = (name: string, dynos: number, port = 1000): Delta[] => [
  { t: 'app', app: name, v: { affinity: 'ip', balanceFactor: 1.25, maintenance: false } },
  ...Array.from({ length: dynos }, (_, i): Delta => ({ t: 'ep', app: name, dyno: `web.${i + 1}`, v: { host: '127.0.0.1', port: port + i, node: 'n1', release: 1 } })),
];

describe('copy-on-write map', () => {
  test('with() leaves the old map untouched, shares untouched entries, counts size', () => {
    let m = CowMap.empty<number>();
    m = m.with(Array.from({ length: 2000 }, (_, i) => [`k${i}`, i] as [string, number]));
    assert.equal(m.size, 2000);
    const before = m;
    const after = m.with([['k5', 55], ['k1999', undefined], ['new', 1], ['absent', undefined]]);
    assert.equal(before.get('k5'), 5);
    assert.equal(before.get('k1999'), 1999);
    assert.equal(before.has('new'), false);
    assert.equal(after.get('k5'), 55);
    assert.equal(after.has('k1999'), false);
    assert.equal(after.get('new'), 1);
    assert.equal(after.size, 2000);
    assert.equal([...after].length, 2000);
    assert.equal(before.with([]), before);
    for (let i = 0; i < 1999; i++) if (i !== 5) assert.equal(after.get(`k${i}`), i);
  });
});

describe('rings shared by dyno names', () => {
  test('apps with the same dyno names get the same ring object; the choice equals a ring of their own', () => {
    const names = ['web.1', 'web.2', 'web.3'];
    assert.equal(Ring.of(names), Ring.of([...names]));
    assert.notEqual(Ring.of(names), Ring.of(['web.1', 'web.2']));
    const own = new Ring(names);
    for (let k = 0; k < 300; k++) assert.equal(Ring.of(names).primary(`10.0.${k >> 8}.${k & 255}`), own.primary(`10.0.${k >> 8}.${k & 255}`));
  });

  test('a table of many apps with web.1..web.N holds one ring per N', () => {
    const b = new TableBuilder({ baseDomain: 'localhost', defaultBalanceFactor: 1.25 });
    for (let a = 0; a < 200; a++) b.apply(app(`app-${a}`, 1 + (a % 3), 2000 + a * 10));
    const t = b.build(1);
    const rings = new Set([...t.apps.values()].map((r) => r.ring));
    assert.equal(rings.size, 3);
    assert.equal(t.endpointCount, 67 * 1 + 67 * 2 + 66 * 3);
  });
});

describe('worker snapshot', () => {
  test('snapshot() through msgpackr rebuilds the same table in another builder', () => {
    const main = new TableBuilder({ baseDomain: 'localhost', defaultBalanceFactor: 1.25 });
    main.apply([...app('a', 3), ...app('b', 2, 3000), { t: 'domain', host: 'www.b.com', v: 'b' }]);
    main.apply([{ t: 'ep', app: 'a', dyno: 'web.2', v: null }]);
    const t1 = main.build(7);
    const worker = new TableBuilder({ baseDomain: 'localhost', defaultBalanceFactor: 1.25 });
    worker.apply(unpack(pack(main.snapshot())) as Delta[]);
    const t2 = worker.build(7);
    for (const host of ['a.localhost', 'b.localhost', 'www.b.com']) {
      assert.deepEqual(t2.lookup(host)!.backends.map((x) => [x.dyno, x.address, x.node]), t1.lookup(host)!.backends.map((x) => [x.dyno, x.address, x.node]));
    }
    assert.equal(t2.endpointCount, 4);
  });
});

describe('access log', () => {
  test('writes the same JSON records as pino, batched into one write', async () => {
    const writes: string[] = [];
    const dest = new Writable({ write(chunk, _e, cb) { writes.push(String(chunk)); cb(); } });
    const log = pino({ base: { pid: 7 } }, dest).child({ component: 'router' });
    const a = new AccessLog(log);
    a.write('shop', 'at=info method=GET path="/\\"q\\"" status=200', false);
    a.write('', 'at=error code=H12 desc="Request timeout"', true);
    assert.equal(writes.length, 0); // batched
    a.flush();
    await new Promise((r) => setImmediate(r));
    assert.equal(writes.length, 1);
    log.warn({ app: '', line: 'at=error code=H12 desc="Request timeout"' }, 'router-request');
    await new Promise((r) => setImmediate(r));
    const ours = writes[0]!.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const theirs = JSON.parse(writes[1]!) as Record<string, unknown>;
    assert.equal(ours.length, 2);
    assert.deepEqual(Object.keys(ours[1]!), Object.keys(theirs));
    assert.deepEqual({ ...ours[1], time: 0 }, { ...theirs, time: 0 });
    assert.deepEqual({ ...ours[0], time: 0 }, { level: 30, time: 0, pid: 7, component: 'router', app: 'shop', line: 'at=info method=GET path="/\\"q\\"" status=200', msg: 'router-request' });
  });

  test('levels: info lines are dropped when the logger is at warn', () => {
    const writes: string[] = [];
    const dest = new Writable({ write(chunk, _e, cb) { writes.push(String(chunk)); cb(); } });
    const a = new AccessLog(pino({ level: 'warn' }, dest));
    a.write('x', 'at=info', false);
    a.flush();
    assert.equal(writes.length, 0);
  });
});

describe('workers metrics', () => {
  test('Metrics.sum adds every counter; per-worker requests are rendered', () => {
    const a = new Metrics();
    a.response(200, 3);
    a.response(503, 30_000);
    a.error('H12');
    a.inFlight = 2;
    const b = new Metrics();
    b.response(204, 40);
    b.websocketsTotal = 3;
    b.error('H12');
    b.bytesOut = 10;
    const sum = Metrics.sum([a.snapshot(), b.snapshot()]);
    assert.deepEqual(sum.byClass, [0, 0, 2, 0, 0, 1]);
    assert.equal(sum.byCode.get('H12'), 2);
    assert.equal(sum.inFlight, 2);
    assert.equal(sum.bytesOut, 10);
    const text = sum.render(new TableBuilder({ baseDomain: 'localhost', defaultBalanceFactor: 1.25 }).table, { connected: true, syncedAt: 0, disconnectedSince: 0 }, false, [a.snapshot(), b.snapshot()]);
    assert.match(text, /dynomesh_router_worker_requests_total\{worker="1"\} 2\n/);
    assert.match(text, /dynomesh_router_worker_requests_total\{worker="2"\} 1\n/);
    // the duration histogram: cumulative buckets per class, sums in seconds
    assert.match(text, /# TYPE dynomesh_router_request_duration_seconds histogram\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_bucket\{class="2xx",le="0.005"\} 1\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_bucket\{class="2xx",le="0.025"\} 1\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_bucket\{class="2xx",le="0.05"\} 2\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_bucket\{class="2xx",le="\+Inf"\} 2\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_sum\{class="2xx"\} 0.043\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_bucket\{class="5xx",le="10"\} 0\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_bucket\{class="5xx",le="30"\} 1\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_count\{class="5xx"\} 1\n/);
    assert.match(text, /dynomesh_router_websockets_total 3\n/);
  });
});

describe('big routing list', () => {
  test('Cluster.list reads past one page (gRPC caps a reply at 4 MB; 100,000 endpoints are ~16 MB)', async () => {
    const c = etcd.cluster();
    const ops: Op[] = [];
    for (let i = 0; i < 12_000; i++) {
      const app = `a${i >> 3}`;
      const k = c.keys.endpoint(app, `web.${(i & 7) + 1}`);
      ops.push({ put: k, value: c.value(k, { app, dyno: `web.${(i & 7) + 1}`, node: 'n1', host: '10.0.0.1', port: 5000 + (i & 7), release: 1 }) });
    }
    for (let i = 0; i < ops.length; i += 128) await c.txn([], ops.slice(i, i + 128));
    const rev = await c.revision();
    const l = await c.list(c.keys.routing());
    assert.equal(l.entries.length, 12_000);
    assert.equal(new Set(l.entries.map((e) => e.key)).size, 12_000);
    assert.equal(l.revision, rev);
    c.close();
  });
});
