/** router/deadlines.ts with a hand-driven clock: what fires, when, and what the ticker costs. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Deadlines, type Clock, type Timed } from '../../router/deadlines.ts';

function fakeClock() {
  const c = { t: 1_000, ticks: [] as { ms: number; fn: () => void; stopped: boolean }[] };
  const clock: Clock = {
    now: () => c.t,
    every(ms, fn) {
      const tk = { ms, fn, stopped: false };
      c.ticks.push(tk);
      return { stop: () => void (tk.stopped = true) };
    },
  };
  return { c, clock, live: () => c.ticks.filter((t) => !t.stopped) };
}

function timed(name: string, fired: string[], onTimeout?: () => void): Timed {
  return { deadline: 0, tPrev: null, tNext: null, tracked: false, onTimeout: onTimeout ?? (() => fired.push(name)) };
}

describe('deadlines', () => {
  test('fires what has passed, once, and leaves the rest armed', () => {
    const { c, clock } = fakeClock();
    const d = new Deadlines(clock);
    const fired: string[] = [];
    const a = timed('a', fired);
    const b = timed('b', fired);
    const x = timed('x', fired);
    d.arm(a, 100);
    d.arm(b, 300);
    d.arm(x, 200);
    assert.equal(d.size, 3);
    c.t += 150;
    d.tick();
    assert.deepEqual(fired, ['a']);
    assert.equal(a.tracked, false);
    c.t += 100;
    d.tick();
    d.tick();
    assert.deepEqual(fired, ['a', 'x'], 'each fires once');
    assert.equal(d.size, 1);
  });

  test('re-arming moves the deadline without a second list entry; clear is safe to repeat', () => {
    const { c, clock } = fakeClock();
    const d = new Deadlines(clock);
    const fired: string[] = [];
    const a = timed('a', fired);
    d.arm(a, 100);
    c.t += 90;
    d.arm(a, 100); // a byte moved: the idle timer starts over
    assert.equal(d.size, 1);
    c.t += 50;
    d.tick();
    assert.deepEqual(fired, []);
    d.clear(a);
    d.clear(a);
    assert.equal(d.size, 0);
    c.t += 1_000;
    d.tick();
    assert.deepEqual(fired, []);
  });

  test('one ticker, at 1/20 of the shortest timeout within 5..250 ms', () => {
    const { clock, live } = fakeClock();
    const d = new Deadlines(clock);
    const fired: string[] = [];
    d.arm(timed('a', fired), 30_000);
    assert.deepEqual(live().map((t) => t.ms), [250]);
    d.arm(timed('b', fired), 1_000);
    assert.deepEqual(live().map((t) => t.ms), [50], 'a shorter timeout replaces the ticker');
    d.arm(timed('c', fired), 10);
    assert.deepEqual(live().map((t) => t.ms), [5]);
    d.arm(timed('d', fired), 55_000);
    assert.deepEqual(live().map((t) => t.ms), [5], 'a longer one keeps it');
  });

  test('an onTimeout that clears another armed exchange does not fire it', () => {
    const { c, clock } = fakeClock();
    const d = new Deadlines(clock);
    const fired: string[] = [];
    const b = timed('b', fired);
    const a = timed('a', fired, () => {
      fired.push('a');
      d.clear(b); // e.g. a failure that finishes a sibling request
    });
    d.arm(b, 100);
    d.arm(a, 100); // list: a, b
    c.t += 200;
    d.tick();
    assert.deepEqual(fired, ['a']);
    assert.equal(d.size, 0);
  });
});
