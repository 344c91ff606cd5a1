import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as hdr from 'hdr-histogram-js';
import { median, spread, ratio, percentile, histogramSummary, round } from '../../bench/stats.ts';

describe('statistics', () => {
  test('median of odd and even counts, ignoring missing values', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([5, NaN, 1, 3]), 3);
    assert.ok(Number.isNaN(median([])));
  });

  test('spread is min, max and range over the median', () => {
    assert.deepEqual(spread([90, 100, 110]), { min: 90, max: 110, rel: 0.2, n: 3 });
    assert.deepEqual(spread([5]), { min: 5, max: 5, rel: 0, n: 1 });
    assert.equal(spread([]).n, 0);
  });

  test('ratio refuses to invent a number from a missing or zero side', () => {
    assert.equal(ratio(50, 100), 0.5);
    assert.ok(Number.isNaN(ratio(50, 0)));
    assert.ok(Number.isNaN(ratio(undefined, 100)));
    assert.ok(Number.isNaN(ratio(50, NaN)));
  });

  test('nearest-rank percentiles of raw samples', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100, unsorted
    assert.equal(percentile(xs, 50), 50);
    assert.equal(percentile(xs, 99), 99);
    assert.equal(percentile(xs, 100), 100);
    assert.equal(percentile(xs, 0), 1);
    assert.equal(percentile([7], 99), 7);
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.throws(() => percentile(xs, 101), RangeError);
  });

  test('percentiles from an HdrHistogram recorded in microseconds come out in ms', () => {
    const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    for (let us = 1; us <= 1000; us++) h.recordValue(us * 10); // 10 us .. 10 ms, uniform
    const s = histogramSummary(h);
    assert.equal(s.count, 1000);
    assert.ok(Math.abs(s.p50_ms - 5) < 0.01, `p50 ${s.p50_ms}`);
    assert.ok(Math.abs(s.p90_ms - 9) < 0.01, `p90 ${s.p90_ms}`);
    assert.ok(Math.abs(s.p99_ms - 9.9) < 0.01, `p99 ${s.p99_ms}`);
    assert.ok(Math.abs(s.p999_ms - 9.99) < 0.01, `p99.9 ${s.p999_ms}`);
    assert.ok(Math.abs(s.max_ms - 10) < 0.01, `max ${s.max_ms}`);
    h.destroy();
    const empty = hdr.build();
    assert.ok(Number.isNaN(histogramSummary(empty).p99_ms));
  });

  test('round keeps small numbers precise and big ones whole', () => {
    assert.equal(round(0.123456), 0.123);
    assert.equal(round(98765.4), 98765);
    assert.ok(Number.isNaN(round(NaN)));
  });
});
