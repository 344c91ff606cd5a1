import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureBalance, clientKeys, loadStats } from '../../bench/balance.ts';

test('client keys are distinct addresses', () => {
  const k = clientKeys(70_000);
  assert.equal(new Set(k).size, 70_000);
  assert.equal(k[257], '10.0.1.1');
});

test('max/mean and min/mean of per-dyno counts', () => {
  assert.deepEqual(loadStats([10, 20, 30]), { max_over_mean: 1.5, min_over_mean: 0.5 });
});

test('removing one dyno of ten moves only that dyno\'s keys (consistent hashing)', () => {
  const b = measureBalance(10, 20_000);
  assert.equal(b.moved_from_removed, 1, 'every moved key came from the removed dyno');
  assert.ok(b.moved_fraction > 0 && b.moved_fraction < 0.2, `moved ${b.moved_fraction}`);
  assert.ok(b.max_over_mean >= 1 && b.min_over_mean <= 1);
  assert.equal(b.ideal_moved_fraction, 0.1);
});
