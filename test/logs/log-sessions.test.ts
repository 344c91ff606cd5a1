/** Log session URLs: signed, expiring, bound to the key. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { signSession, verifySession } from '../../control/logs/session-token.ts';

describe('log sessions', () => {
  test('signed, expiring, bound to the key', () => {
    const key = Buffer.alloc(32, 1);
    const who = { token: 'a'.repeat(64) };
    const { token } = signSession(key, 'shop', { lines: 10, tail: true }, who, 1000);
    assert.deepEqual(verifySession(key, token, 2000), { app: 'shop', q: { lines: 10, tail: true }, who });
    assert.throws(() => verifySession(key, token, 1000 + 5 * 60_000 + 1), /expired/);
    assert.throws(() => verifySession(Buffer.alloc(32, 2), token, 2000), /not valid/);
    assert.throws(() => verifySession(key, 'x', 2000), /malformed/);
  });
});
