/**
 * The route table: lookup by domain, a new table per change that shares what did not
 * change (copy-on-write maps), one ring per set of dyno names, and the deltas and
 * snapshot that rebuild the same table in a worker thread.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pack, unpack } from 'msgpackr';
import { CowMap } from '../../router/table/cow-map.ts';
import { TableBuilder } from '../../router/table/builder.ts';
import type { Delta } from '../../router/table/delta.ts';

const app = (name: string, dynos: number, port = 1000): Delta[] => [
  { t: 'app', app: name, v: { affinity: 'ip', balanceFactor: 1.25, maintenance: false } },
  ...Array.from({ length: dynos }, (_, i): Delta => ({ t: 'ep', app: name, dyno: `web.${i + 1}`, v: { host: '127.0.0.1', port: port + i, node: 'n1', release: 1 } })),
];

describe('route table', () => {
  test('lookup by exact domain and <app>.<base-domain>; apps need a routing record', () => {
    const b = new TableBuilder({ baseDomain: 'apps.test', defaultBalanceFactor: 1.25 });
    b.apply([
      { t: 'app', app: 'shop', v: { affinity: 'ip', balanceFactor: 1.5, maintenance: false } },
      { t: 'ep', app: 'shop', dyno: 'web.10', v: { host: '127.0.0.1', port: 2, node: 'n', release: 1 } },
      { t: 'ep', app: 'shop', dyno: 'web.2', v: { host: '127.0.0.1', port: 1, node: 'n', release: 1 } },
      { t: 'ep', app: 'ghost', dyno: 'web.1', v: { host: '127.0.0.1', port: 3, node: 'n', release: 1 } },
      { t: 'domain', host: 'www.shop.com', v: 'shop' },
    ]);
    const t1 = b.build(5);
    assert.equal(t1.lookup('shop.apps.test')?.name, 'shop');
    assert.equal(t1.lookup('SHOP.apps.test:8080')?.name, 'shop');
    assert.equal(t1.lookup('www.shop.com')?.name, 'shop');
    assert.equal(t1.lookup('ghost.apps.test'), undefined);
    assert.equal(t1.lookup('a.b.apps.test'), undefined);
    assert.deepEqual(t1.lookup('shop.apps.test')!.backends.map((x) => x.dyno), ['web.2', 'web.10']);
    assert.equal(t1.lookup('shop.apps.test')!.balanceFactor, 1.5);

    // a new table per change; the old one is untouched; unchanged backends are the same objects
    const web2 = t1.lookup('shop.apps.test')!.backends[0]!;
    b.apply([{ t: 'ep', app: 'shop', dyno: 'web.10', v: null }, { t: 'domain', host: 'www.shop.com', v: null }]);
    const t2 = b.build(6);
    assert.notEqual(t1, t2);
    assert.equal(t1.lookup('shop.apps.test')!.backends.length, 2);
    assert.equal(t2.lookup('shop.apps.test')!.backends.length, 1);
    assert.equal(t2.lookup('shop.apps.test')!.backends[0], web2);
    assert.equal(t2.lookup('www.shop.com'), undefined);
    assert.equal(t2.revision, 6);
  });

  test('a dyno moving between nodes: the latest write serves, the old node\'s delete leaves the new one', () => {
    const b = new TableBuilder({ baseDomain: 'apps.test', defaultBalanceFactor: 1.25 });
    b.apply(app('shop', 0));
    b.apply([{ t: 'ep', app: 'shop', dyno: 'web.1', v: { host: '10.0.0.1', port: 5001, node: 'n1', release: 1 } }]);
    b.apply([{ t: 'ep', app: 'shop', dyno: 'web.1', v: { host: '10.0.0.2', port: 5002, node: 'n2', release: 1 } }]);
    b.apply([{ t: 'ep', app: 'shop', dyno: 'web.1', node: 'n1', v: null }]);
    const moved = b.build(7).lookup('shop.apps.test')!.backends;
    assert.deepEqual(moved.map((x) => [x.dyno, x.node, x.port]), [['web.1', 'n2', 5002]]);
    b.apply([{ t: 'ep', app: 'shop', dyno: 'web.1', node: 'n2', v: null }]);
    assert.equal(b.build(8).lookup('shop.apps.test')!.backends.length, 0);
  });
});

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

describe('rings in the route table', () => {
  test('a table of many apps with web.1..web.N holds one ring per N', () => {
    const b = new TableBuilder({ baseDomain: 'localhost', defaultBalanceFactor: 1.25 });
    for (let a = 0; a < 200; a++) b.apply(app(`app-${a}`, 1 + (a % 3), 2000 + a * 10));
    const t = b.build(1);
    const rings = new Set([...t.apps.values()].map((r) => r.ring));
    assert.equal(rings.size, 3);
    assert.equal(t.endpointCount, 67 * 1 + 67 * 2 + 66 * 3);
  });
});

describe('deltas for worker threads', () => {
  test('deltas survive msgpackr and build the same table in another builder', () => {
    const deltas: Delta[] = [
      { t: 'app', app: 'w', v: { affinity: 'header:x-user', balanceFactor: 1.25, maintenance: false } },
      { t: 'ep', app: 'w', dyno: 'web.1', v: { host: '10.0.0.1', port: 5001, node: 'a', release: 3 } },
      { t: 'ep', app: 'w', dyno: 'web.2', v: { host: '10.0.0.2', port: 5002, node: 'b', release: 3 } },
      { t: 'domain', host: 'w.example.com', v: 'w' },
    ];
    const main = new TableBuilder({ baseDomain: 'localhost', defaultBalanceFactor: 1.25 });
    const worker = new TableBuilder({ baseDomain: 'localhost', defaultBalanceFactor: 1.25 });
    main.apply(deltas);
    worker.apply(unpack(pack(deltas)) as Delta[]);
    const a = main.build(9).lookup('w.example.com')!;
    const b = worker.build(9).lookup('w.example.com')!;
    assert.deepEqual(a.backends.map((x) => x.address), b.backends.map((x) => x.address));
    for (let k = 0; k < 200; k++) assert.equal(a.ring!.primary(`u${k}`), b.ring!.primary(`u${k}`));
    assert.deepEqual(a.affinity, b.affinity);
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
