import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { OpenLoopSchedule, correctedLatencyUs, type Slot } from '../../bench/load/schedule.ts';

/** A fake connection: remembers the intended time of what it was sent. */
function conn(log: Array<{ c: string; intended: number }>, name: string): Slot {
  return { send: (intended) => log.push({ c: name, intended }) };
}

describe('open-loop schedule (coordinated omission)', () => {
  test('requests are intended at t0 + i/rate, whatever time pump() runs', () => {
    const s = new OpenLoopSchedule(1000, 1000, 1010); // 1 req/ms for 10 ms
    const sent: Array<{ c: string; intended: number }> = [];
    for (let i = 0; i < 20; i++) s.release(conn(sent, `c${i}`));
    assert.equal(s.pump(999), 0);
    assert.equal(s.pump(1003.5), 4); // 1000, 1001, 1002, 1003: all late pumps still use the intended times
    assert.deepEqual(sent.map((x) => x.intended), [1000, 1001, 1002, 1003]);
    assert.equal(s.pump(2000), 6); // the rest, and nothing past the end
    assert.equal(s.nextDue, Infinity);
    assert.equal(s.issued, 10);
  });

  test('a stalled server is charged for every request it delayed, from its intended time', () => {
    // One connection, 1 request per ms. The first response takes 50 ms (a stall).
    const s = new OpenLoopSchedule(0, 1000, 100);
    const sent: Array<{ c: string; intended: number }> = [];
    const only = conn(sent, 'only');
    s.release(only);
    s.pump(0); // request 0 goes out at 0
    s.pump(50); // requests 1..50 become due while the connection is busy
    assert.equal(s.queued, 50);
    assert.equal(s.maxQueued, 50);
    // The stalled response arrives at t=50; the connection frees and takes the oldest queued request.
    const lat0 = correctedLatencyUs(sent[0]!.intended, 50);
    s.release(only);
    assert.equal(sent[1]!.intended, 1, 'the oldest waiting request goes next, keeping its intended time');
    // Its response comes 0.1 ms after it was actually sent (t=50.1): a closed-loop tool would say 0.1 ms.
    const lat1 = correctedLatencyUs(sent[1]!.intended, 50.1);
    assert.equal(lat0, 50_000);
    assert.equal(lat1, 49_100, 'latency counts from the intended time (1 ms), not the send (50 ms)');
    const rest = s.drainQueue();
    assert.equal(rest.length, 49);
    assert.equal(rest[0], 2);
  });

  test('free connections are reused before requests queue', () => {
    const s = new OpenLoopSchedule(0, 100, 1000);
    const sent: Array<{ c: string; intended: number }> = [];
    const a = conn(sent, 'a');
    const b = conn(sent, 'b');
    s.release(a);
    s.release(b);
    s.pump(10); // t=0 and t=10
    assert.deepEqual(sent.map((x) => x.c).sort(), ['a', 'b']);
    s.pump(20);
    assert.equal(s.queued, 1);
    s.release(a);
    assert.equal(s.queued, 0);
    assert.deepEqual(sent.at(-1), { c: 'a', intended: 20 });
  });

  test('bad rates are refused, latencies are at least 1 us', () => {
    assert.throws(() => new OpenLoopSchedule(0, 0, 10), /rate must be positive/);
    assert.equal(correctedLatencyUs(5, 5), 1);
  });
});
