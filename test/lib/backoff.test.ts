import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../../lib/backoff.ts';

test('doubles up to the cap, each delay in the upper half of its step, and starts over after reset', () => {
  const low = new Backoff(100, 2000, () => 0);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(() => low.next()), [50, 100, 200, 400, 800, 1000, 1000]);
  const high = new Backoff(100, 2000, () => 0.999999);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => high.next()), [100, 200, 400, 800, 1600, 2000]);
  high.reset();
  assert.equal(high.next(), 100);
});

test('a fleet failing together spreads out: 1,000 clients at the same attempt do not retry in step', () => {
  const delays = Array.from({ length: 1000 }, () => {
    const b = new Backoff(250, 5000);
    for (let i = 0; i < 4; i++) b.next();
    return b.next();
  });
  assert.ok(delays.every((d) => d >= 2000 && d <= 4000), 'attempt 5: within [step/2, step] of 4,000 ms');
  assert.ok(new Set(delays).size > 500, `distinct delays: ${new Set(delays).size}`);
});
