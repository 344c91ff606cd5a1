import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { decode, encode } from '../../cluster/codec.ts';
import { DecodeError } from '../../cluster/errors.ts';
import type { Endpoint, Release } from '../../cluster/records.ts';

const endpoint: Endpoint = { app: 'shop', dyno: 'web.1', node: 'n1', host: '10.0.0.2', port: 5001, release: 3 };

describe('codec', () => {
  test('round-trips a record, bytes included', () => {
    assert.deepEqual(decode('endpoint', 'k', encode('endpoint', endpoint)), endpoint);
    const release: Release = {
      app: 'shop', version: 2, slug: { id: 'x', sha256: 'x', size: 1 }, processTypes: { web: 'npm start' },
      config: new Uint8Array([1, 2, 3]), description: 'Deploy abc', author: 'me', createdAt: 1,
    };
    const back = decode('release', 'k', encode('release', release));
    assert.deepEqual(Buffer.from(back.config), Buffer.from([1, 2, 3]));
    assert.deepEqual(back.processTypes, { web: 'npm start' });
  });

  test('a corrupt body is a DecodeError naming the key', () => {
    const err = (() => {
      try {
        decode('endpoint', '/dm/routing/endpoints/a/web.1', Buffer.from([0xc1, 0xff, 0x00]));
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof DecodeError);
    assert.equal(err.key, '/dm/routing/endpoints/a/web.1');
    assert.match(err.message, /routing\/endpoints\/a\/web\.1/);
  });

  test('an unknown schema version is refused with an upgrade hint', () => {
    const future = new Packr({ useRecords: false }).pack(['endpoint', 99, endpoint]);
    assert.throws(() => decode('endpoint', 'k', future), (e: unknown) => e instanceof DecodeError && /version 99.*upgrade/.test(e.message));
  });

  test('a value of another kind or with a missing field is refused', () => {
    assert.throws(() => decode('domain', 'k', encode('endpoint', endpoint)), /holds a endpoint value, expected domain/);
    const missing = new Packr({ useRecords: false }).pack(['endpoint', 1, { ...endpoint, port: 'x' }]);
    assert.throws(() => decode('endpoint', 'k', missing), /field port should be number/);
    assert.throws(() => decode('endpoint', 'k', Buffer.from('plain text')), DecodeError);
  });
});
