/** Providers facing a server that accepts connections but never answers: each gives up after its timeout. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { ProviderError } from '../../control/addons/provider.ts';
import { PostgresProvider } from '../../control/addons/postgresql.ts';
import { RedisProvider } from '../../control/addons/redis.ts';

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
