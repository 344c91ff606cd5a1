/** When a crashed dyno starts again: Heroku's cool-offs, and a good run resetting them. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { CrashPolicy, HEROKU_COOL_OFFS_MS } from '../../dyno-node/backoff.ts';

describe('CrashPolicy', () => {
  test('Heroku schedule: at once, then 20, 40, 60, 180, 320, 320 min', () => {
    const p = new CrashPolicy();
    const t0 = 1_000_000;
    const delays = Array.from({ length: 7 }, () => p.crashed(t0, t0 + 1000));
    assert.deepEqual(delays, [0, ...HEROKU_COOL_OFFS_MS, HEROKU_COOL_OFFS_MS.at(-1)]);
    assert.deepEqual(HEROKU_COOL_OFFS_MS.map((m) => m / 60_000), [20, 40, 60, 180, 320]);
  });
  test('a good run resets the count; reset() does too', () => {
    const p = new CrashPolicy([100, 200], 5000);
    assert.equal(p.crashed(0, 10), 0);
    assert.equal(p.crashed(0, 20), 100);
    assert.equal(p.crashed(100, 100 + 6000), 0, 'stayed up 6 s > good run');
    assert.equal(p.crashed(0, 10), 100);
    p.reset();
    assert.equal(p.crashed(0, 10), 0);
  });
});
