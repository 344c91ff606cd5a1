/** Add-on resource names and passwords: derived from the id, stable across retries, refused for non-UUIDs. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { credentialPassword, resourceName, unreachable } from '../../control/addons/provider.ts';

describe('names and credentials', () => {
  test('resource names come from the id; non-UUIDs are refused', () => {
    assert.equal(resourceName('6F1C2A8E-0b7d-4c61-9e35-2d8f4b7a1c90'), 'dm_6f1c2a8e0b7d4c619e352d8f4b7a1c90');
    assert.throws(() => resourceName('x; DROP DATABASE postgres'), /is not a UUID/);
  });

  test('passwords: the same for one id (retries), different per id, service and secret', () => {
    const s = Buffer.alloc(32, 1);
    const p = credentialPassword(s, 'postgresql', 'a');
    assert.equal(credentialPassword(s, 'postgresql', 'a'), p);
    assert.notEqual(credentialPassword(s, 'postgresql', 'b'), p);
    assert.notEqual(credentialPassword(s, 'redis', 'a'), p);
    assert.notEqual(credentialPassword(Buffer.alloc(32, 2), 'postgresql', 'a'), p);
    assert.match(p, /^[A-Za-z0-9_-]{43}$/, 'URL-safe: no escaping in DATABASE_URL');
  });

  test('unreachable names the cause in words', () => {
    assert.match(unreachable('redis', 'h:1', Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).message, /at h:1 is unreachable \(connection refused\)/);
    assert.match(unreachable('redis', 'h:1', Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })).message, /\(timed out\)/);
  });
});
