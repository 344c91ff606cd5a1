/**
 * What the dyno gets and what the client gets back: X-Forwarded-*, Via and the Heroku
 * set added, hop-by-hop headers dropped both ways, request ids kept or replaced.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { keepResponseHeader, requestHead, requestId } from '../../router/headers.ts';

describe('forwarded headers', () => {
  const base = { method: 'GET', target: '/p?q', clientIp: '10.0.0.9', requestId: 'r'.repeat(20), proto: 'http', port: 5000, startMs: 1234, contentLength: -1, chunked: false, connectionTokens: ['x-secret'] };
  test('appends XFF and Via, adds the Heroku set, strips hop-by-hop and Connection-named headers', () => {
    const head = requestHead(['host', 'a', 'x-forwarded-for', '1.1.1.1', 'via', '1.0 lb', 'x-secret', 's', 'keep-alive', '5', 'accept', '*/*'], base);
    assert.equal(
      head,
      'GET /p?q HTTP/1.1\r\nhost: a\r\naccept: */*\r\nx-forwarded-for: 1.1.1.1, 10.0.0.9\r\nx-forwarded-proto: http\r\nx-forwarded-port: 5000\r\n' +
        'x-request-start: 1234\r\nx-request-id: rrrrrrrrrrrrrrrrrrrr\r\nvia: 1.0 lb, 1.1 dynomesh\r\nconnection: keep-alive\r\n\r\n',
    );
    assert.match(requestHead([], { ...base, contentLength: 3, connectionTokens: null }), /content-length: 3\r\n/);
    assert.match(requestHead([], { ...base, chunked: true, connectionTokens: null }), /transfer-encoding: chunked\r\n/);
  });
  test('request ids: valid ones kept, others replaced', () => {
    assert.equal(requestId('a'.repeat(20)), 'a'.repeat(20));
    assert.equal(requestId('Ab0+/=-'.repeat(3)), 'Ab0+/=-'.repeat(3));
    for (const bad of ['', 'a'.repeat(19), 'a'.repeat(201), 'a'.repeat(19) + '_']) assert.notEqual(requestId(bad), bad);
  });
  test('response headers: hop-by-hop, framing and Date dropped', () => {
    for (const h of ['connection', 'transfer-encoding', 'content-length', 'date', 'keep-alive', 'uwebsockets']) assert.equal(keepResponseHeader(h, null), false);
    assert.equal(keepResponseHeader('set-cookie', null), true);
    assert.equal(keepResponseHeader('x-private', ['x-private']), false);
  });
});
