import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseParser, buildRequest } from '../../bench/load/http1.ts';

function parse(chunks: string[]): Array<[number, number]> {
  const got: Array<[number, number]> = [];
  const p = new ResponseParser((s, n) => got.push([s, n]));
  for (const c of chunks) p.feed(Buffer.from(c, 'latin1'));
  assert.ok(p.idle, 'parser ends between responses');
  return got;
}

describe('open-loop response parser', () => {
  const ok = 'HTTP/1.1 200 OK\r\nContent-Length: 13\r\nX-Backend: web.1\r\n\r\nHello, World!';

  test('one response, split anywhere, counts its wire bytes', () => {
    for (let cut = 1; cut < ok.length; cut++) {
      assert.deepEqual(parse([ok.slice(0, cut), ok.slice(cut)]), [[200, ok.length]], `cut at ${cut}`);
    }
  });

  test('several responses in one read', () => {
    const notFound = 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n';
    assert.deepEqual(parse([ok + notFound + ok]), [[200, ok.length], [404, notFound.length], [200, ok.length]]);
  });

  test('chunked bodies with trailers, byte by byte', () => {
    const r = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-T: 1\r\n\r\n';
    assert.deepEqual(parse(r.split('')), [[200, r.length]]);
  });

  test('204 has no body', () => {
    const r = 'HTTP/1.1 204 No Content\r\n\r\n';
    assert.deepEqual(parse([r + ok]), [[204, r.length], [200, ok.length]]);
  });

  test('unframed responses are an error, not a hang', () => {
    const p = new ResponseParser(() => {});
    assert.throws(() => p.feed(Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody')), /neither Content-Length nor chunked/);
  });

  test('requests are built once with Host and, for a body, its length', () => {
    assert.equal(buildRequest('GET', '/hello', 'bench.localhost').toString(), 'GET /hello HTTP/1.1\r\nHost: bench.localhost\r\n\r\n');
    const post = buildRequest('POST', '/upload', 'h', Buffer.alloc(4, 'x')).toString();
    assert.match(post, /^POST \/upload HTTP\/1\.1\r\nHost: h\r\n/);
    assert.match(post, /Content-Length: 4\r\n\r\nxxxx$/);
  });
});
