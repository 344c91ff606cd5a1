/**
 * checkHead, the router's own check of a request head before it is forwarded: framing
 * read, ambiguous or oversized heads refused (400, 431 above the size limit).
 * The same heads sent over a socket to a real router: limits.test.ts, heads.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHead, headBytes, type HeadFacts } from '../../router/limits.ts';

const facts = (): HeadFacts => ({ host: '', contentLength: -1, chunked: false, connectionTokens: null });

describe('checkHead', () => {
  const ok = ['host', 'a.localhost'];
  test('accepts a normal head and reports its framing', () => {
    const f = facts();
    assert.equal(checkHead('POST', '/x', [...ok, 'content-length', '12', 'connection', 'keep-alive, X-Foo'], f), null);
    assert.deepEqual(f, { host: 'a.localhost', contentLength: 12, chunked: false, connectionTokens: ['keep-alive', 'x-foo'] });
    assert.equal(checkHead('OPTIONS', '*', ok, facts()), null, 'OPTIONS * is the one target without a /');
    const g = facts();
    assert.equal(checkHead('POST', '/x', [...ok, 'transfer-encoding', 'Chunked'], g), null);
    assert.equal(g.chunked, true);
  });
  test('refuses each ambiguous or oversized head', () => {
    const cases: [string, string, string[], RegExp][] = [
      ['GET', '/' + 'a'.repeat(8190), ok, /request line/],
      ['GET', '/', [...ok, 'x', 'v'.repeat(8190)], /header line/],
      ['GET', '/', [...ok, ...Array.from({ length: 1001 }, (_, i) => [`h${i}`, 'v']).flat()], /1000 headers/],
      ['GET', '/', [...ok, 'host', 'b.localhost'], /more than one Host/],
      ['GET', '/', [], /missing Host/],
      ['POST', '/', [...ok, 'content-length', '5', 'content-length', '5'], /more than one Content-Length/],
      ['POST', '/', [...ok, 'content-length', '5', 'transfer-encoding', 'chunked'], /both Content-Length and Transfer-Encoding/],
      ['POST', '/', [...ok, 'transfer-encoding', 'gzip, chunked'], /only chunked/],
      ['POST', '/', [...ok, 'content-length', '-1'], /invalid Content-Length/],
      ['CONNECT', '/', ok, /CONNECT is not supported/],
      ['GET', '/', [...ok, 'x-a', 'a\r\nx-injected: 1'], /CR, LF or NUL in a header/],
      ['GET', '/', [...ok, 'x-a', 'a\nb'], /CR, LF or NUL in a header/],
      ['GET', '/', [...ok, 'x-a', 'a\0b'], /CR, LF or NUL in a header/],
      ['GET', '/', [...ok, 'x-\0a', 'b'], /CR, LF or NUL in a header/],
      ['GET', '/a\r\nb', ok, /CR, LF or NUL in the request target/],
      ['GET', 'a/b', ok, /must start with \//],
      ['GET', 'http://a.localhost/', ok, /must start with \//],
      ['GET', '*', ok, /must start with \//],
    ];
    for (const [m, t, pairs, re] of cases) {
      const p = checkHead(m, t, pairs, facts());
      assert.match(p?.reason ?? 'accepted', re);
      assert.equal(p?.status, 400);
    }
  });
  test('counts the head as sent and answers 431 above the limit, before any other check', () => {
    const wire = 'GET /p?q=1 HTTP/1.1\r\nHost: a.localhost\r\nX-Y: z\r\n\r\n';
    const pairs = [...ok, 'x-y', 'z'];
    assert.equal(headBytes('GET', '/p?q=1', pairs), wire.length);
    assert.equal(checkHead('GET', '/p?q=1', pairs, facts(), wire.length), null);
    const f = facts();
    f.host = 'stale.localhost';
    const p = checkHead('GET', '/p?q=1', pairs, f, wire.length - 1);
    assert.equal(p?.status, 431);
    assert.match(p!.reason, /over the \d+-byte limit/);
    assert.equal(f.host, '', 'facts are reset even when the size check refuses');
    // an oversized head that is also malformed (two Hosts, a 9 KB line) is still a 431
    assert.equal(checkHead('GET', '/', [...ok, 'host', 'b', 'x', 'v'.repeat(9000)], facts(), 8192)?.status, 431);
  });
});
