/** The failed-auth limiter's client address: X-Forwarded-For counts only from trusted proxies (the routers, with --api-domain). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientAddress } from '../../control/api/client-address.ts';

const req = (peer: string, xff?: string) => ({ socket: { remoteAddress: peer }, headers: xff ? { 'x-forwarded-for': xff } : {} }) as never;

test('X-Forwarded-For is believed only from DYNOMESH_TRUSTED_PROXIES', () => {
  const saved = process.env.DYNOMESH_TRUSTED_PROXIES;
  try {
    delete process.env.DYNOMESH_TRUSTED_PROXIES;
    assert.equal(clientAddress(req('10.0.0.5', '203.0.113.7')), '10.0.0.5');
    process.env.DYNOMESH_TRUSTED_PROXIES = '10.0.0.0/24, 127.0.0.1';
    assert.equal(clientAddress(req('10.0.0.5', '198.51.100.1, 203.0.113.7')), '203.0.113.7', 'the entry the router appended');
    assert.equal(clientAddress(req('::ffff:127.0.0.1', '203.0.113.8')), '203.0.113.8');
    assert.equal(clientAddress(req('10.0.1.5', '203.0.113.7')), '10.0.1.5', 'not a trusted proxy');
    assert.equal(clientAddress(req('10.0.0.5', 'garbage')), '10.0.0.5');
    assert.equal(clientAddress(req('10.0.0.5')), '10.0.0.5');
  } finally {
    if (saved === undefined) delete process.env.DYNOMESH_TRUSTED_PROXIES;
    else process.env.DYNOMESH_TRUSTED_PROXIES = saved;
  }
});
