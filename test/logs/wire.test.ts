/** The log transport's frames: any chunking reassembles, acks, garbage refused. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ACK, BATCH, encodeFrame, FrameError, FrameReader, validWire } from '../../logplex/wire.ts';

const T = Date.UTC(2026, 10, 26, 10, 0, 0) * 1000 + 123456;

describe('wire', () => {
  test('frames survive any chunking; acks; garbage is refused', () => {
    const a = encodeFrame([BATCH, 1, 0, [['app1', 'app', 'web.1', T, 'x'.repeat(300)]]]);
    const b = encodeFrame([ACK, 1]);
    const all = Buffer.concat([a, b, a]);
    for (const step of [1, 3, 7, 64, all.length]) {
      const r = new FrameReader();
      const got = [];
      for (let i = 0; i < all.length; i += step) got.push(...r.push(all.subarray(i, i + step)));
      assert.equal(got.length, 3, `step ${step}`);
      assert.equal(got[0]![0], BATCH);
      assert.deepEqual(got[1], [ACK, 1]);
    }
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(0xffffffff, 0);
    assert.throws(() => new FrameReader().push(huge), FrameError);
    assert.equal(validWire(['a', 'app', 'web.1', 1, 'x']), true);
    assert.equal(validWire(['a', 'db', 'web.1', 1, 'x']), false);
    assert.equal(validWire(['a', 'app', 'web.1', '1', 'x']), false);
  });
});
