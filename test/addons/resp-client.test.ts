/** The RESP client the redis provider uses: replies split across chunks, and a server that closes. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { RedisReplyError, RespClient, text } from '../../control/addons/resp.ts';

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
