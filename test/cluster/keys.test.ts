import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyError, keyspace } from '../../cluster/keys.ts';

describe('key layout', () => {
  const k = keyspace('/dm/');

  test('every builder round-trips through parse', () => {
    const cases: [string, unknown][] = [
      [k.app('shop'), { kind: 'app', app: 'shop' }],
      [k.release('shop', 7), { kind: 'release', app: 'shop', version: 7 }],
      [k.current('shop'), { kind: 'current', app: 'shop' }],
      [k.formation('shop'), { kind: 'formation', app: 'shop' }],
      [k.config('shop'), { kind: 'config', app: 'shop' }],
      [k.node('host-1'), { kind: 'node', node: 'host-1' }],
      [k.placement('host-1', 'shop', 'web.2'), { kind: 'placement', node: 'host-1', app: 'shop', dyno: 'web.2' }],
      [k.status('n1', 'shop', 'worker.1'), { kind: 'status', node: 'n1', app: 'shop', dyno: 'worker.1' }],
      [k.routingApp('shop'), { kind: 'routingApp', app: 'shop' }],
      [k.domain('WWW.Example.com'), { kind: 'domain', host: 'www.example.com' }],
      [k.endpoint('n1', 'shop', 'web.1'), { kind: 'endpoint', node: 'n1', app: 'shop', dyno: 'web.1' }],
      [k.member('c1'), { kind: 'member', id: 'c1' }],
      [k.token('a'.repeat(64)), { kind: 'token', hash: 'a'.repeat(64) }],
      [k.build('shop', 'b-1'), { kind: 'build', app: 'shop', id: 'b-1' }],
      [k.addon('shop', 'DATABASE'), { kind: 'addon', app: 'shop', name: 'DATABASE' }],
      [k.user('bob+ci@example.com'), { kind: 'user', email: 'bob+ci@example.com' }],
      [k.user('admin'), { kind: 'user', email: 'admin' }],
      [k.collaborator('shop', 'bob@example.com'), { kind: 'collaborator', app: 'shop', email: 'bob@example.com' }],
      [k.migration('accounts-v1'), { kind: 'migration', name: 'accounts-v1' }],
    ];
    for (const [key, ref] of cases) assert.deepEqual(k.parse(key), ref, key);
  });

  test('releases sort by version as strings', () => {
    assert.ok(k.release('a', 9) < k.release('a', 10));
    assert.ok(k.release('a', 99) < k.release('a', 100));
  });

  test('routing keys all live under one prefix the router can watch', () => {
    for (const key of [k.routingApp('a'), k.domain('a.example.com'), k.endpoint('n1', 'a', 'web.1')]) {
      assert.ok(key.startsWith(k.routing()));
    }
    assert.ok(!k.placement('n', 'a', 'web.1').startsWith(k.routing()));
  });

  test("an app's collaborators go with the app's other keys on destroy", () => {
    assert.ok(k.appPrefixes('shop').some((p) => k.collaborator('shop', 'bob@example.com').startsWith(p)));
    assert.ok(!k.appPrefixes('sh').some((p) => k.collaborator('shop', 'bob@example.com').startsWith(p)));
  });

  test('an app named like a prefix does not see another app\'s keys', () => {
    assert.ok(!k.release('ab', 1).startsWith(k.releases('a')));
    assert.ok(!k.endpoint('n10', 'a', 'web.1').startsWith(k.endpointsOn('n1')));
  });

  test('names that would break the layout are refused', () => {
    assert.throws(() => k.app('a/b'), KeyError);
    assert.throws(() => k.app('Upper'), KeyError);
    assert.throws(() => k.status('n1', 'a', '../x'), KeyError);
    assert.throws(() => k.endpoint('../n2', 'a', 'web.1'), KeyError);
    assert.throws(() => k.node('a/b'), KeyError);
    assert.throws(() => k.release('a', 0), KeyError);
    assert.throws(() => k.domain('bad host'), KeyError);
    assert.throws(() => k.user('Bob@example.com'), KeyError);
    assert.throws(() => k.user('bob/../x@example.com'), KeyError);
    assert.throws(() => k.collaborator('shop', 'a@b/c'), KeyError);
  });

  test('keys outside the layout parse to undefined', () => {
    assert.equal(k.parse('/other/apps/x'), undefined);
    assert.equal(k.parse('/dm/apps/x/y'), undefined);
    assert.equal(k.parse('/dm/nope/x'), undefined);
  });

  test('the prefix gets a trailing slash', () => {
    assert.equal(keyspace('/x').app('a'), '/x/apps/a');
  });
});
