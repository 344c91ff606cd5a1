/** The per-app log ring: newest lines kept in arrival order, handoff history, subscribers. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AppLog, LogStore, type Entry } from '../../control/logs/store.ts';

const T = Date.UTC(2026, 10, 26, 10, 0, 0) * 1000 + 123456;

describe('store', () => {
  const rec = (i: number, dyno = 'web.1') => ({ app: 'a', source: 'app' as const, dyno, ts: T + i, line: `l${i}` });
  test('keeps the newest 1500 in arrival order; last(n, filter)', () => {
    const log = new AppLog();
    for (let i = 0; i < 4000; i++) log.push({ rec: rec(i, i % 2 ? 'worker.1' : 'web.1'), text: `l${i}` });
    assert.equal(log.size, 1500);
    assert.deepEqual(log.last(3).map((e) => e.text), ['l3997', 'l3998', 'l3999']);
    assert.equal(log.last(1500)[0]!.text, 'l2500');
    const web = log.last(2, (r) => r.dyno === 'web.1').map((e) => e.text);
    assert.deepEqual(web, ['l3996', 'l3998']);
  });

  test('prepend (handoff) puts history before what arrived since, keeping the newest', () => {
    const log = new AppLog(5);
    log.push({ rec: rec(10), text: 'new1' });
    log.push({ rec: rec(11), text: 'new2' });
    log.prepend([1, 2, 3, 4].map((i) => ({ rec: rec(i), text: `old${i}` }) as Entry));
    assert.deepEqual(log.entries().map((e) => e.text), ['old2', 'old3', 'old4', 'new1', 'new2']);
  });

  test('subscribers see each app batch once; release ends them', () => {
    const store = new LogStore();
    const got: string[] = [];
    let closed = '';
    store.subscribe('a', { push: (es) => got.push(es.map((e) => e.rec.line).join(',')), close: (r) => (closed = r) });
    store.append([rec(1), { ...rec(2), app: 'b' }, rec(3), rec(4)]);
    assert.deepEqual(got, ['l1', 'l3,l4']);
    assert.equal(store.release('a', 'moved').length, 3);
    assert.equal(closed, 'moved');
  });
});
