/** The API's router and credentials: a token from the Authorization header, route matching, and every route carrying an access rule. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { presentedToken } from '../../control/api/auth.ts';
import { ApiRouter, type Match } from '../../control/api/router.ts';

describe('auth header parsing', () => {
  const req = (authorization?: string) => ({ headers: authorization ? { authorization } : {} }) as IncomingMessage;
  test('bearer, basic password, basic user-only; nothing else', () => {
    assert.equal(presentedToken(req('Bearer abc')), 'abc');
    assert.equal(presentedToken(req('bearer   abc ')), 'abc');
    assert.equal(presentedToken(req(`Basic ${Buffer.from('git:tok').toString('base64')}`)), 'tok');
    assert.equal(presentedToken(req(`Basic ${Buffer.from('tok:').toString('base64')}`)), 'tok');
    assert.equal(presentedToken(req('Digest x')), undefined);
    assert.equal(presentedToken(req('Bearer')), undefined);
    assert.equal(presentedToken(req()), undefined);
  });
});

describe('api router', () => {
  test('params, HEAD as GET, allowed methods, rest params, each route with its policy rule', async () => {
    const r = new ApiRouter();
    const h = async () => undefined;
    r.get('/apps/:app', h).patch('/apps/:app', h).get('/apps/:app/log-drains/*ref', h);
    assert.deepEqual((r.match('GET', '/apps/shop') as { params: object }).params, { app: 'shop' });
    assert.ok('route' in (r.match('HEAD', '/apps/shop') as object));
    assert.deepEqual(r.match('DELETE', '/apps/shop'), { allowed: ['GET', 'PATCH'] });
    assert.equal(r.match('GET', '/nope'), undefined);
    const m = r.match('GET', '/apps/a/log-drains/syslog%3A%2F%2Fx/y') as Match;
    assert.deepEqual(m.params, { app: 'a', ref: 'syslog://x/y' });
    assert.deepEqual(m.route.rule, { kind: 'app', actions: ['read'], from: 'app' });
  });

  test('a route with no access rule in policy.ts is refused when added', () => {
    assert.throws(() => new ApiRouter().get('/apps/:app/secret-new-thing', async () => undefined), /no access rule.*policy\.ts/);
  });
});
