/** lib/histogram.ts: quantiles close to the exact ones, and merging equals counting everything in one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketOf, bucketRange, Histogram } from '../../lib/histogram.ts';

const exact = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(q * xs.length) - 1)]!;

test('every value falls in the bucket whose range holds it', () => {
  for (const us of [0, 1, 15, 16, 17, 31, 32, 33, 1000, 123_456, 9_999_999, 2 ** 31 - 2]) {
    const [lo, hi] = bucketRange(bucketOf(us));
    assert.ok(lo <= us && us < hi, `${us} in [${lo}, ${hi})`);
  }
});

test('p50/p95/p99 within 3% of the exact values over 4 orders of magnitude', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const xs = Array.from({ length: 20_000 }, () => 0.2 * Math.exp(rnd() * Math.log(5000))); // 0.2 ms .. 1 s, log-uniform
  const h = new Histogram();
  for (const x of xs) h.record(x);
  for (const q of [0.5, 0.95, 0.99]) {
    const want = exact(xs, q);
    const got = h.quantile(q)!;
    assert.ok(Math.abs(got - want) / want < 0.03, `q${q}: ${got} vs ${want}`);
  }
  assert.equal(h.count, xs.length);
});

test('merging wire forms equals one histogram of everything', () => {
  const a = new Histogram();
  const b = new Histogram();
  const all = new Histogram();
  for (let i = 0; i < 1000; i++) {
    const v = (i % 97) * 1.7 + 0.01;
    (i % 3 ? a : b).record(v);
    all.record(v);
  }
  const m = Histogram.fromWire(a.toWire());
  m.mergeWire(b.toWire());
  assert.deepEqual(m.toWire(), all.toWire());
  assert.equal(m.quantile(0.95), all.quantile(0.95));
  assert.equal(new Histogram().quantile(0.5), null);
});

test('malformed wire pairs are skipped', () => {
  const h = Histogram.fromWire([3, 2, -1, 5, 2.5, 1, 10_000, 1, 4, -3, 7]);
  assert.deepEqual(h.toWire(), [3, 2]);
});
