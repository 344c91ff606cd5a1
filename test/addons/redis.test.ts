/**
 * The redis provider against a real redis-server on loopback: the add-on's ACL
 * user, checked with redis-cli (an independent client) where it matters.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { ProviderError, resourceName } from '../../control/addons/provider.ts';
import { RedisProvider } from '../../control/addons/redis.ts';
import { startRedis, type TestRedis } from './servers.ts';

let server: TestRedis;
let provider: RedisProvider;
const secret = randomBytes(32);

/** redis-cli with the add-on's URL; resolves with its output (errors come back as text, exit 0). */
function cli(url: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', ['--no-auth-warning', '-u', url, ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err && !stdout) reject(new Error(`${err.message} ${stderr}`));
      else resolve((stdout + stderr).trim());
    });
  });
}

before(async () => {
  server = await startRedis();
  provider = new RedisProvider(server.adminUrl, secret, { connectTimeoutMs: 2000 });
});
after(async () => {
  await server?.destroy();
});

describe('redis provider', () => {
  test('provision: an ACL user limited to its key prefix; REDIS_URL and REDIS_KEY_PREFIX work', async () => {
    const id = randomUUID();
    const { config } = await provider.provision({ app: 'shop', plan: 'mini', options: {}, id });
    const prefix = `${resourceName(id)}:`;
    assert.equal(config.REDIS_KEY_PREFIX, prefix);
    const url = new URL(config.REDIS_URL!);
    assert.equal(url.username, resourceName(id));
    assert.equal(url.host, `127.0.0.1:${server.port}`);

    assert.equal(await cli(config.REDIS_URL!, 'SET', `${prefix}greeting`, 'hi'), 'OK');
    assert.equal(await cli(config.REDIS_URL!, 'GET', `${prefix}greeting`), 'hi');
    assert.equal(await cli(config.REDIS_URL!, 'INCR', `${prefix}visits`), '1');
    assert.match(await cli(config.REDIS_URL!, 'SET', 'unprefixed', 'x'), /NOPERM/);
    assert.match(await cli(config.REDIS_URL!, 'FLUSHALL'), /NOPERM/, '-@dangerous');
    assert.match(await cli(config.REDIS_URL!, 'CONFIG', 'GET', 'requirepass'), /NOPERM/, '-@admin');
    assert.match(await cli(config.REDIS_URL!, 'ACL', 'LIST'), /NOPERM/);
    assert.match(await cli(config.REDIS_URL!, 'KEYS', '*'), /NOPERM/);
    assert.match(await cli(config.REDIS_URL!, 'PUBLISH', 'other-channel', 'x'), /NOPERM/);
    assert.equal(await cli(config.REDIS_URL!, 'PUBLISH', `${prefix}events`, 'x'), '0');
    await provider.deprovision(id);
  });

  test("one add-on cannot read or write another's keys", async () => {
    const a = randomUUID();
    const b = randomUUID();
    const ca = (await provider.provision({ app: 'app-a', plan: 'mini', options: {}, id: a })).config;
    const cb = (await provider.provision({ app: 'app-b', plan: 'mini', options: {}, id: b })).config;
    assert.equal(await cli(cb.REDIS_URL!, 'SET', `${cb.REDIS_KEY_PREFIX}secret`, 'b-only'), 'OK');
    assert.match(await cli(ca.REDIS_URL!, 'GET', `${cb.REDIS_KEY_PREFIX}secret`), /NOPERM/);
    assert.match(await cli(ca.REDIS_URL!, 'DEL', `${cb.REDIS_KEY_PREFIX}secret`), /NOPERM/);
    // SELECT is allowed, but the key pattern holds on every database.
    assert.match(await cli(ca.REDIS_URL!, '-n', '3', 'GET', `${cb.REDIS_KEY_PREFIX}secret`), /NOPERM/);
    const wrong = new URL(ca.REDIS_URL!);
    wrong.username = resourceName(b);
    assert.match(await cli(wrong.toString(), 'PING'), /WRONGPASS|invalid username-password/i);
    await provider.deprovision(a);
    await provider.deprovision(b);
  });

  test('provisioning is idempotent on the id', async () => {
    const id = randomUUID();
    const first = await provider.provision({ app: 'shop', plan: 'mini', options: {}, id });
    await cli(first.config.REDIS_URL!, 'SET', `${first.config.REDIS_KEY_PREFIX}k`, 'v');
    const again = await provider.provision({ app: 'shop', plan: 'mini', options: {}, id });
    assert.deepEqual(again.config, first.config);
    assert.equal(await cli(first.config.REDIS_URL!, 'GET', `${first.config.REDIS_KEY_PREFIX}k`), 'v', 'keys kept, credentials unchanged');
    const users = (await server.call('ACL', 'USERS')) as Buffer[];
    assert.equal(users.filter((u) => u.toString() === resourceName(id)).length, 1);
    await provider.deprovision(id);
  });

  test('users survive a redis restart (ACL SAVE to the aclfile)', async () => {
    const id = randomUUID();
    const { config } = await provider.provision({ app: 'shop', plan: 'mini', options: {}, id });
    await server.stop();
    await server.start();
    assert.equal(await cli(config.REDIS_URL!, 'PING'), 'PONG');
    await provider.deprovision(id);
    await server.stop();
    await server.start();
    assert.match(await cli(config.REDIS_URL!, 'PING'), /WRONGPASS|invalid username-password/i);
  });

  test('deprovision removes the user, closes its connections and deletes its keys on every database', async () => {
    const id = randomUUID();
    const other = randomUUID();
    const { config } = await provider.provision({ app: 'shop', plan: 'mini', options: {}, id });
    const keep = (await provider.provision({ app: 'other', plan: 'mini', options: {}, id: other })).config;
    const prefix = config.REDIS_KEY_PREFIX!;
    for (let i = 0; i < 2500; i += 500) {
      const args = Array.from({ length: 500 }, (_, j) => [`${prefix}k${i + j}`, 'v']).flat();
      await cli(config.REDIS_URL!, 'MSET', ...args);
    }
    await cli(config.REDIS_URL!, '-n', '5', 'SET', `${prefix}on-db-5`, 'v');
    await cli(keep.REDIS_URL!, 'SET', `${keep.REDIS_KEY_PREFIX}stays`, 'v');
    await provider.deprovision(id);
    assert.equal(((await server.call('ACL', 'USERS')) as Buffer[]).map(String).includes(resourceName(id)), false);
    assert.equal(await cli(server.adminUrl, '--scan', '--pattern', `${prefix}*`), '');
    assert.equal(await cli(server.adminUrl, '-n', '5', 'EXISTS', `${prefix}on-db-5`), '0');
    assert.equal(await cli(keep.REDIS_URL!, 'GET', `${keep.REDIS_KEY_PREFIX}stays`), 'v', "another add-on's keys stay");
    await provider.deprovision(id); // again: fine
    await provider.deprovision(other);
  });

  test('a server that is down, and refused admin credentials, are one clear line', async () => {
    const wrong = new URL(server.adminUrl);
    wrong.password = 'nope';
    await assert.rejects(new RedisProvider(wrong.toString(), secret).provision({ app: 'a', plan: 'mini', options: {}, id: randomUUID() }), /refused control's admin credentials; the operator must fix --addon-redis/);
    await server.stop();
    try {
      await assert.rejects(provider.provision({ app: 'shop', plan: 'mini', options: {}, id: randomUUID() }), (err: ProviderError) => {
        assert.ok(err instanceof ProviderError);
        assert.equal(err.unavailable, true);
        assert.equal(err.message, `the redis add-on server at 127.0.0.1:${server.port} is unreachable (connection refused); nothing was changed. Try again later or ask the operator to check it.`);
        return true;
      });
    } finally {
      await server.start();
    }
    assert.throws(() => new RedisProvider('http://x', secret), /must look like redis:\/\//);
  });
});
