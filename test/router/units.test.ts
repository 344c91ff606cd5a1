/** Unit tests of the router's pure parts: head checks, forwarded headers, affinity, ring, bounded loads, table. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHead, headBytes, type HeadFacts } from '../../router/limits.ts';
import { keepResponseHeader, requestHead, requestId } from '../../router/headers.ts';
import { cookieValue, parseAffinity, AffinityKind } from '../../router/balancer/affinity.ts';
import { Ring } from '../../router/balancer/ring.ts';
import { markTried, pick } from '../../router/balancer/pick.ts';
import { TableBuilder } from '../../router/table/builder.ts';
import { pack, unpack } from 'msgpackr';
import type { Delta } from '../../router/table/delta.ts';
import { formatLine } from '../../router/log-line.ts';
import { ERRORS } from '../../router/errors.ts';

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

describe('affinity', () => {
  test('parses settings', () => {
    assert.equal(parseAffinity('ip').kind, AffinityKind.Ip);
    assert.equal(parseAffinity('random').kind, AffinityKind.Random);
    assert.deepEqual(parseAffinity('cookie:sid'), { kind: AffinityKind.Cookie, name: 'sid' });
    assert.deepEqual(parseAffinity('header:X-User'), { kind: AffinityKind.Header, name: 'x-user' });
    assert.equal(parseAffinity('bogus').kind, AffinityKind.Ip);
  });
  test('reads a cookie value', () => {
    assert.equal(cookieValue('a=1; sid=abc; b=2', 'sid'), 'abc');
    assert.equal(cookieValue('xsid=1; sid=2', 'sid'), '2');
    assert.equal(cookieValue('a=1', 'sid'), '');
    assert.equal(cookieValue('', 'sid'), '');
  });
});

/** Fake backends: only what the balancer reads. */
function fakeRoute(n: number, factor = 1.25) {
  const names = Array.from({ length: n }, (_, i) => `web.${i + 1}`);
  const backends = names.map((dyno) => ({ dyno, inFlight: 0, q: 0, isQuarantined(now: number) { return this.q > now; } }));
  return { name: 'x', maintenance: false, affinity: parseAffinity('ip'), balanceFactor: factor, backends, ring: new Ring(names) } as never as Parameters<typeof pick>[0] & { backends: typeof backends };
}

describe('ring and bounded loads', () => {
  test('the same names give the same ring; removing a dyno moves only its keys', () => {
    const a = new Ring(['web.1', 'web.2', 'web.3', 'web.4']);
    const b = new Ring(['web.1', 'web.2', 'web.3', 'web.4']);
    const c = new Ring(['web.1', 'web.2', 'web.3']);
    let moved = 0;
    for (let k = 0; k < 2000; k++) {
      const key = `user-${k}`;
      assert.equal(a.primary(key), b.primary(key));
      const before = a.names[a.primary(key)];
      const after = c.names[c.primary(key)];
      if (before !== 'web.4') assert.equal(after, before);
      else moved++;
    }
    assert.ok(moved > 300 && moved < 700, `about a quarter of keys lived on web.4: ${moved}`);
  });

  test('walk visits every dyno once, starting at the owner', () => {
    const r = new Ring(['web.1', 'web.2', 'web.3']);
    const seen: number[] = [];
    r.walk('k', (s) => (seen.push(s), false));
    assert.equal(seen[0], r.primary('k'));
    assert.deepEqual([...seen].sort(), [0, 1, 2]);
  });

  test('a hot key fills its dyno up to ceil(c * mean) and then spills in ring order', () => {
    const route = fakeRoute(4);
    const owner = pick(route, 'hot', 0, 0);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 40; i++) {
      const s = pick(route, 'hot', 0, 0);
      route.backends[s]!.inFlight++;
      counts[s]!++;
      const bound = Math.ceil((1.25 * (i + 1)) / 4);
      assert.ok(Math.max(...counts) <= bound, `after ${i + 1}: ${counts} (bound ${bound})`);
    }
    // the owner runs near the bound (13 at 40 in flight); the rest spills to the next dynos on the ring
    assert.ok(counts[owner]! >= 11, `owner keeps most: ${counts}`);
    assert.ok(counts.filter((c) => c > 0).length >= 3, `spilled over several dynos: ${counts}`);
  });

  test('quarantined and already-tried dynos are skipped; -1 when all were tried', () => {
    const route = fakeRoute(3);
    const owner = pick(route, 'k', 0, 0);
    route.backends[owner]!.q = 100;
    const second = pick(route, 'k', 0, 50);
    assert.notEqual(second, owner);
    assert.equal(pick(route, 'k', 0, 200), owner, 'quarantine expires');
    let tried = markTried(0, 0, 3);
    tried = markTried(tried, 1, 3);
    assert.equal(pick(route, 'k', tried, 0), 2);
    assert.equal(pick(route, 'k', markTried(tried, 2, 3), 0), -1);
    // every dyno quarantined: still try one rather than fail without trying
    for (const b of route.backends) b.q = 1000;
    assert.ok(pick(route, 'k', 0, 0) >= 0);
  });

  test('apps over 30 dynos track tried dynos in an array', () => {
    const route = fakeRoute(40);
    let tried: number | Uint8Array = 0;
    const seen = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const s = pick(route, 'k', tried, 0);
      assert.ok(s >= 0 && !seen.has(s));
      seen.add(s);
      tried = markTried(tried, s, 40);
    }
    assert.equal(pick(route, 'k', tried, 0), -1);
  });
});

describe('route table', () => {
  test('lookup by exact domain and <app>.<base-domain>; apps need a routing record', () => {
    const b = new TableBuilder({ baseDomain: 'apps.test', defaultBalanceFactor: 1.25 });
    b.apply([
      { t: 'app', app: 'shop', v: { affinity: 'ip', balanceFactor: 1.5, maintenance: false } },
      { t: 'ep', app: 'shop', dyno: 'web.10', v: { host: '127.0.0.1', port: 2, node: 'n', release: 1 } },
      { t: 'ep', app: 'shop', dyno: 'web.2', v: { host: '127.0.0.1', port: 1, node: 'n', release: 1 } },
      { t: 'ep', app: 'ghost', dyno: 'web.1', v: { host: '127.0.0.1', port: 3, node: 'n', release: 1 } },
      { t: 'domain', host: 'www.shop.com', v: 'shop' },
    ]);
    const t1 = b.build(5);
    assert.equal(t1.lookup('shop.apps.test')?.name, 'shop');
    assert.equal(t1.lookup('SHOP.apps.test:8080')?.name, 'shop');
    assert.equal(t1.lookup('www.shop.com')?.name, 'shop');
    assert.equal(t1.lookup('ghost.apps.test'), undefined);
    assert.equal(t1.lookup('a.b.apps.test'), undefined);
    assert.deepEqual(t1.lookup('shop.apps.test')!.backends.map((x) => x.dyno), ['web.2', 'web.10']);
    assert.equal(t1.lookup('shop.apps.test')!.balanceFactor, 1.5);

    // a new table per change; the old one is untouched; unchanged backends are the same objects
    const web2 = t1.lookup('shop.apps.test')!.backends[0]!;
    b.apply([{ t: 'ep', app: 'shop', dyno: 'web.10', v: null }, { t: 'domain', host: 'www.shop.com', v: null }]);
    const t2 = b.build(6);
    assert.notEqual(t1, t2);
    assert.equal(t1.lookup('shop.apps.test')!.backends.length, 2);
    assert.equal(t2.lookup('shop.apps.test')!.backends.length, 1);
    assert.equal(t2.lookup('shop.apps.test')!.backends[0], web2);
    assert.equal(t2.lookup('www.shop.com'), undefined);
    assert.equal(t2.revision, 6);
  });
});

describe('deltas for worker threads', () => {
  test('deltas survive msgpackr and build the same table in another builder', () => {
    const deltas: Delta[] = [
      { t: 'app', app: 'w', v: { affinity: 'header:x-user', balanceFactor: 1.25, maintenance: false } },
      { t: 'ep', app: 'w', dyno: 'web.1', v: { host: '10.0.0.1', port: 5001, node: 'a', release: 3 } },
      { t: 'ep', app: 'w', dyno: 'web.2', v: { host: '10.0.0.2', port: 5002, node: 'b', release: 3 } },
      { t: 'domain', host: 'w.example.com', v: 'w' },
    ];
    const main = new TableBuilder({ baseDomain: 'localhost', defaultBalanceFactor: 1.25 });
    const worker = new TableBuilder({ baseDomain: 'localhost', defaultBalanceFactor: 1.25 });
    main.apply(deltas);
    worker.apply(unpack(pack(deltas)) as Delta[]);
    const a = main.build(9).lookup('w.example.com')!;
    const b = worker.build(9).lookup('w.example.com')!;
    assert.deepEqual(a.backends.map((x) => x.address), b.backends.map((x) => x.address));
    for (let k = 0; k < 200; k++) assert.equal(a.ring!.primary(`u${k}`), b.ring!.primary(`u${k}`));
    assert.deepEqual(a.affinity, b.affinity);
  });
});

describe('log line', () => {
  test('Heroku router format, info and error', () => {
    const base = { app: 'a', method: 'GET', path: '/x "y"', host: 'a.localhost', requestId: 'rid', fwd: '1.2.3.4', dyno: 'web.1', connectMs: 1, serviceMs: 7, status: 200, bytes: 13, code: null, desc: null };
    assert.equal(formatLine(base), 'at=info method=GET path="/x \\"y\\"" host=a.localhost request_id=rid fwd="1.2.3.4" dyno=web.1 connect=1ms service=7ms status=200 bytes=13 protocol=http');
    assert.match(formatLine({ ...base, code: 'H12', desc: ERRORS.H12.desc, status: 503 }), /^at=error code=H12 desc="Request timeout" method=GET .* status=503 /);
    for (const code of ['H10', 'H12', 'H13', 'H14', 'H18', 'H80', 'H99'] as const) assert.equal(ERRORS[code].status, 503);
  });
});
