/**
 * Choosing a dyno: affinity settings, the consistent-hash ring (shared by apps with the
 * same dyno names), bounded loads that spill a hot key in ring order, and the
 * quarantined and already-tried dynos a retry skips.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cookieValue, parseAffinity, AffinityKind } from '../../router/balancer/affinity.ts';
import { Ring } from '../../router/balancer/ring.ts';
import { markTried, pick } from '../../router/balancer/pick.ts';

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

describe('rings shared by dyno names', () => {
  test('apps with the same dyno names get the same ring object; the choice equals a ring of their own', () => {
    const names = ['web.1', 'web.2', 'web.3'];
    assert.equal(Ring.of(names), Ring.of([...names]));
    assert.notEqual(Ring.of(names), Ring.of(['web.1', 'web.2']));
    const own = new Ring(names);
    for (let k = 0; k < 300; k++) assert.equal(Ring.of(names).primary(`10.0.${k >> 8}.${k & 255}`), own.primary(`10.0.${k >> 8}.${k & 255}`));
  });
});
