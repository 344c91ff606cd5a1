/** Unit tests: the RESP client's framing, credential and resource names, plan parsing, control's flags. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentialPassword, ProviderError, resourceName, unreachable } from '../../control/addons/provider.ts';
import { PostgresProvider } from '../../control/addons/postgresql.ts';
import { RedisProvider } from '../../control/addons/redis.ts';
import { RedisReplyError, RespClient, text } from '../../control/addons/resp.ts';
import { AddonProviders } from '../../control/addons/registry.ts';
import { addonJson, parsePlan } from '../../control/addons/routes.ts';
import { ControlError } from '../../control/errors.ts';

const BIN = fileURLToPath(new URL('../../bin/dynomesh.js', import.meta.url));

describe('RESP client', () => {
  let server: Server;
  let port = 0;
  /** Canned replies per command name, written one byte at a time to exercise reassembly. */
  const replies: Record<string, string> = {
    PING: '+PONG\r\n',
    GET: '$5\r\nhello\r\n',
    NIL: '$-1\r\n',
    INCR: ':42\r\n',
    SCAN: '*2\r\n$1\r\n0\r\n*3\r\n$3\r\na:1\r\n$3\r\na:2\r\n$0\r\n\r\n',
    BAD: '-NOPERM this user has no permissions to run the \'bad\' command\r\n',
  };

  before(async () => {
    server = createServer((sock: Socket) => {
      let buf = '';
      sock.on('data', async (d) => {
        buf += d.toString();
        // Requests are arrays of bulk strings; answer per complete command name.
        const m = buf.match(/^\*\d+\r\n\$\d+\r\n([A-Z]+)\r\n(?:\$\d+\r\n[^\r]*\r\n)*/);
        if (!m) return;
        buf = buf.slice(m[0].length);
        for (const ch of replies[m[1]!] ?? '-ERR unknown\r\n') {
          sock.write(ch);
          await new Promise((r) => setImmediate(r));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(() => server.close());

  test('replies split across chunks: simple, bulk, nil, integer, nested arrays, errors', async () => {
    const c = await RespClient.connect(new URL(`redis://127.0.0.1:${port}`));
    try {
      assert.equal(await c.call('PING'), 'PONG');
      assert.equal(text(await c.call('GET', 'k')), 'hello');
      assert.equal(await c.call('NIL'), null);
      assert.equal(await c.call('INCR', 'k'), 42);
      const [cursor, keys] = (await c.call('SCAN', '0')) as [Buffer, Buffer[]];
      assert.equal(text(cursor), '0');
      assert.deepEqual(keys.map(text), ['a:1', 'a:2', '']);
      await assert.rejects(c.call('BAD'), (err: Error) => err instanceof RedisReplyError && /^NOPERM/.test(err.message));
      assert.equal(await c.call('PING'), 'PONG', 'the connection stays usable after an error reply');
    } finally {
      c.close();
    }
  });

  test('a closed server fails pending calls with a network error', async () => {
    const dead = createServer((s) => s.destroy());
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const c = await RespClient.connect(new URL(`redis://127.0.0.1:${(dead.address() as { port: number }).port}`));
    await assert.rejects(c.call('PING'), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET' || err.code === 'EPIPE');
    dead.close();
  });
});

describe('a server that accepts connections but never answers', () => {
  let hole: Server;
  let port = 0;
  const sockets = new Set<Socket>();
  before(async () => {
    hole = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    port = (hole.address() as { port: number }).port;
  });
  after(() => {
    for (const s of sockets) s.destroy();
    hole.close();
  });

  const timedOut = (service: string) => (err: ProviderError) => {
    assert.ok(err instanceof ProviderError);
    assert.equal(err.unavailable, true);
    assert.equal(err.message, `the ${service} add-on server at 127.0.0.1:${port} is unreachable (timed out); nothing was changed. Try again later or ask the operator to check it.`);
    return true;
  };

  test('postgresql gives up after its connect timeout', async () => {
    const p = new PostgresProvider(`postgres://admin:pw@127.0.0.1:${port}/postgres`, Buffer.alloc(32), { connectTimeoutMs: 300 });
    await assert.rejects(p.provision({ app: 'a', plan: 'mini', options: {}, id: '6f1c2a8e-0b7d-4c61-9e35-2d8f4b7a1c90' }), timedOut('postgresql'));
  });

  test('redis gives up after its reply timeout', async () => {
    const p = new RedisProvider(`redis://default:pw@127.0.0.1:${port}`, Buffer.alloc(32), { replyTimeoutMs: 300 });
    await assert.rejects(p.provision({ app: 'a', plan: 'mini', options: {}, id: '6f1c2a8e-0b7d-4c61-9e35-2d8f4b7a1c90' }), timedOut('redis'));
  });
});

describe('names and credentials', () => {
  test('resource names come from the id; non-UUIDs are refused', () => {
    assert.equal(resourceName('6F1C2A8E-0b7d-4c61-9e35-2d8f4b7a1c90'), 'dm_6f1c2a8e0b7d4c619e352d8f4b7a1c90');
    assert.throws(() => resourceName('x; DROP DATABASE postgres'), /is not a UUID/);
  });

  test('passwords: the same for one id (retries), different per id, service and secret', () => {
    const s = Buffer.alloc(32, 1);
    const p = credentialPassword(s, 'postgresql', 'a');
    assert.equal(credentialPassword(s, 'postgresql', 'a'), p);
    assert.notEqual(credentialPassword(s, 'postgresql', 'b'), p);
    assert.notEqual(credentialPassword(s, 'redis', 'a'), p);
    assert.notEqual(credentialPassword(Buffer.alloc(32, 2), 'postgresql', 'a'), p);
    assert.match(p, /^[A-Za-z0-9_-]{43}$/, 'URL-safe: no escaping in DATABASE_URL');
  });

  test('unreachable names the cause in words', () => {
    assert.match(unreachable('redis', 'h:1', Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).message, /at h:1 is unreachable \(connection refused\)/);
    assert.match(unreachable('redis', 'h:1', Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })).message, /\(timed out\)/);
  });
});

describe('plans, providers, presentation', () => {
  test('parsePlan', () => {
    assert.deepEqual(parsePlan('postgresql'), { service: 'postgresql' });
    assert.deepEqual(parsePlan('postgresql:standard'), { service: 'postgresql', plan: 'standard' });
    for (const bad of ['', 'Postgres', 'postgresql:', 'a:b:c', 42]) assert.throws(() => parsePlan(bad), ControlError);
  });

  test('no providers configured: the error says how to configure them', () => {
    assert.throws(() => new AddonProviders().get('postgresql'), /no add-on services are configured on this control plane; the operator starts control with --addon-postgresql or --addon-redis/);
    const p = AddonProviders.fromConfig({ redis: 'redis://127.0.0.1:1' }, Buffer.alloc(32));
    assert.deepEqual(p.services, ['redis']);
    assert.throws(() => p.get('postgresql'), /unknown add-on service "postgresql"; available: redis/);
  });

  test('addonJson has Heroku\'s shape', () => {
    const j = addonJson({ app: 'shop', name: 'DATABASE', id: 'i', service: 'postgresql', plan: 'mini', configVars: ['DATABASE_URL'], createdAt: 0, addonName: 'postgresql-cubic-12345', state: 'provisioned' });
    assert.deepEqual(j, {
      id: 'i', name: 'postgresql-cubic-12345', addon_service: { name: 'postgresql' }, plan: { name: 'postgresql:mini' }, app: { name: 'shop' },
      attachment: { name: 'DATABASE' }, config_vars: ['DATABASE_URL'], state: 'provisioned', created_at: '1970-01-01T00:00:00.000Z',
    });
  });

  test('dynomesh control refuses a bad --addon-postgresql with one line and exit 1, without echoing secrets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-addons-flag-'));
    try {
      const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(process.execPath, [BIN, 'control', '--addon-postgresql', 'mysql://root:hunter2@db/x', '--listen', '127.0.0.1:0', '--data-dir', dir, '--cluster-key', join(dir, 'k'), '--etcd', 'http://127.0.0.1:1'],
          { env: { PATH: process.env.PATH, HOME: dir, DYNOMESH_LOG_LEVEL: 'silent' }, timeout: 30_000 }, (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stderr }));
      });
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'dynomesh control: the postgresql admin URL must look like postgres://admin:secret@host:5432/postgres\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
