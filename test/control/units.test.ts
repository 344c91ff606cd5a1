/** Pure pieces of the control plane: config rules, formation parsing, auth headers, routes, the slug store. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { checkConfigPatch, describeConfigChange } from '../../control/config-vars.ts';
import { normalizeSize, parseUpdates } from '../../control/formation.ts';
import { presentedToken } from '../../control/api/auth.ts';
import { ApiRouter, type Match } from '../../control/api/router.ts';
import { DirSlugStore, SlugTooLargeError } from '../../control/slugs/store.ts';
import { ControlError } from '../../control/errors.ts';
import { randomAppName } from '../../control/apps.ts';
import { isAppName } from '../../cluster/keys.ts';
import { parseOneOff } from '../../control/one-off.ts';

const status = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof ControlError ? err.status : -1;
  }
  return 0;
};

describe('config vars', () => {
  test('release descriptions as Heroku writes them', () => {
    assert.equal(describeConfigChange(['FOO', 'BAR'], []), 'Set FOO, BAR config vars');
    assert.equal(describeConfigChange([], ['FOO']), 'Remove FOO config vars');
    assert.equal(describeConfigChange(['A'], ['B']), 'Set A config vars and remove B config vars');
  });

  test('key and value rules', () => {
    const ok = { _X: 'a', Abc_9: '', N: 3, B: true, GONE: null } as Record<string, unknown>;
    checkConfigPatch(ok);
    assert.deepEqual(ok, { _X: 'a', Abc_9: '', N: '3', B: 'true', GONE: null });
    for (const bad of [{ __X: 'x' }, { '9A': 'x' }, { 'A-B': 'x' }, { '': 'x' }, { 'A B': 'x' }, { A: {} }, { A: ['x'] }, [], 'str', null]) {
      assert.equal(status(() => checkConfigPatch(bad)), 422, JSON.stringify(bad));
    }
  });
});

describe('formation updates', () => {
  test('batch and per-type bodies', () => {
    assert.deepEqual(parseUpdates({ updates: [{ type: 'web', quantity: 3 }, { type: 'worker', size: 'Standard-2X' }] }), [
      { type: 'web', quantity: 3 },
      { type: 'worker', size: 'standard-2x' },
    ]);
    assert.deepEqual(parseUpdates({ quantity: '2' }, 'web'), [{ type: 'web', quantity: 2 }]);
    for (const bad of [{}, { updates: [] }, { updates: [{ quantity: 1 }] }, { updates: [{ type: 'web' }] }, { updates: [{ type: 'web', quantity: 1.5 }] }, { updates: [{ type: 'web', quantity: 101 }] }]) {
      assert.equal(status(() => parseUpdates(bad)), 422, JSON.stringify(bad));
    }
    assert.equal(status(() => normalizeSize('xl')), 422);
  });
});

describe('one-off requests', () => {
  test('command required; env refused; attach defaults to detached', () => {
    assert.deepEqual(parseOneOff({ command: 'bash' }), { command: 'bash', attach: false });
    assert.deepEqual(parseOneOff({ command: 'bash', attach: true, size: 'STANDARD-2X' }), { command: 'bash', attach: true, size: 'standard-2x' });
    for (const bad of [{}, { command: '' }, { command: 'x', env: { A: '1' } }, { command: 'x', attach: 'yes' }, { command: 'x', type: 'Bad' }]) {
      assert.equal(status(() => parseOneOff(bad)), 422, JSON.stringify(bad));
    }
  });
});

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

describe('app names', () => {
  test('random names are valid app names', () => {
    for (let i = 0; i < 50; i++) assert.ok(isAppName(randomAppName()));
  });
});

describe('directory slug store', () => {
  test('put hashes while streaming; get/has/delete/list; size limit leaves nothing behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dynomesh-slugs-'));
    try {
      const store = new DirSlugStore(dir);
      const body = Buffer.alloc(300_000, 7);
      const stored = await store.put(Readable.from([body.subarray(0, 1000), body.subarray(1000)]));
      assert.equal(stored.sha256, createHash('sha256').update(body).digest('hex'));
      assert.equal(stored.size, body.length);
      assert.equal(await store.has(stored.sha256), true);
      const got = await store.get(stored.sha256);
      const chunks: Buffer[] = [];
      for await (const c of got!.stream) chunks.push(c as Buffer);
      assert.deepEqual(Buffer.concat(chunks), body);
      assert.deepEqual((await store.list()).map((s) => s.sha256), [stored.sha256]);
      await assert.rejects(store.put(Readable.from([body]), { maxBytes: 1000 }), SlugTooLargeError);
      assert.deepEqual(readdirSync(dir), [`${stored.sha256}.tgz`], 'no partial file left');
      assert.equal(await store.get('../../etc/passwd'), undefined);
      assert.equal(await store.delete(stored.sha256), true);
      assert.equal(await store.delete(stored.sha256), false);
      assert.equal(await store.has(stored.sha256), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
