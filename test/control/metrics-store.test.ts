/**
 * control/metrics/store.ts on real etcd: deltas add into the minute's key by
 * compare-and-swap, so two instances that both think they own an app lose
 * nothing; reads see etcd plus the reader's unflushed deltas; keys sit on a
 * lease per hour; junk and far-off samples are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { MetricsStore } from '../../control/metrics/store.ts';
import { Histogram } from '../../lib/histogram.ts';
import { useEtcd } from '../support/etcd.ts';

const etcd = useEtcd();
const log = pino({ level: process.env.DYNOMESH_LOG_LEVEL ?? 'silent' });
const NOW = Math.floor(Date.now() / 60_000) * 60_000 + 30_000;
const M = NOW / 1000 - 30;

const sample = (n: number, ms: number) => {
  const h = new Histogram();
  for (let i = 0; i < n; i++) h.record(ms);
  return JSON.stringify({ k: 'r', m: M, n, s: [0, n, 0, 0, 0], e: { H12: 1 }, h: h.toWire() });
};

test('two instances add into the same minute concurrently; nothing is lost', async () => {
  const c = etcd.cluster();
  const a = new MetricsStore(c, log, { now: () => NOW });
  const b = new MetricsStore(c, log, { now: () => NOW });
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 10; i++) {
      a.add('hello', sample(3, 10));
      b.add('hello', sample(2, 20));
    }
    await Promise.all([a.flush(), b.flush()]);
  }
  const [m] = await a.minutes('hello', M - 60, M + 60);
  assert.equal(m!.requests, 5 * 10 * 5);
  assert.equal(m!.errors.H12, 100);
  assert.equal(Histogram.fromWire(m!.hist).count, 250);
  assert.ok(a.counters.writes + b.counters.writes >= 10);
  const e = await c.get(c.keys.appMinute('hello', M));
  assert.notEqual(e!.lease, '0', 'on an hourly lease');
});

test('a reader sees its own unflushed deltas; junk and samples far in the past or future are refused', async () => {
  const c = etcd.cluster();
  const s = new MetricsStore(c, log, { now: () => NOW });
  s.add('hello', sample(4, 5));
  assert.equal((await s.minutes('hello', M, M + 60))[0]!.requests, 4);
  s.add('hello', 'not json');
  s.add('hello', JSON.stringify({ k: 'r', m: M - 30 * 3600, n: 1, s: [0, 1, 0, 0, 0], e: {}, h: [] }));
  s.add('hello', JSON.stringify({ k: 'r', m: M + 3600, n: 1, s: [0, 1, 0, 0, 0], e: {}, h: [] }));
  assert.equal(s.counters.invalid, 3);
  await s.close();
  assert.equal((await new MetricsStore(c, log, { now: () => NOW }).minutes('hello', M, M + 60))[0]!.requests, 4, 'flushed at close');
});
