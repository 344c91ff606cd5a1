/**
 * The dyno connection's response parsing, against a raw TCP "dyno" that writes
 * scripted bytes: the fast path (plain Content-Length responses) and llhttp
 * (everything else) must give the owner the same head, body and end, keep the
 * connection usable between them, and refuse what is not HTTP/1.1.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { Backend, DEFAULT_POOL } from '../../router/upstream/backend.ts';
import type { Conn, ConnOwner } from '../../router/upstream/conn.ts';

/** A dyno that answers the n-th request on a connection with `script[n]` (pieces written apart). */
async function scriptedDyno(script: (string | Buffer)[][]): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    let n = 0;
    let seen = '';
    s.on('data', async (d) => {
      seen += d.toString('latin1');
      while (seen.includes('\r\n\r\n')) {
        seen = seen.slice(seen.indexOf('\r\n\r\n') + 4);
        const pieces = script[n++] ?? [];
        for (const p of pieces) {
          s.write(p);
          await new Promise((r) => setTimeout(r, 15));
        }
      }
    });
    s.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : 0, sockets };
}

interface Seen {
  status: number;
  reason: string;
  headers: string[];
  keepAlive: boolean;
  body: Buffer[];
  ended: boolean;
  closed: Error | 'clean' | null;
}

/** Sends one request on `conn` and records what the owner hears until the response ends or the connection goes. */
function exchange(conn: Conn, noBody = false): Promise<Seen> {
  return new Promise((resolve) => {
    const seen: Seen = { status: 0, reason: '', headers: [], keepAlive: false, body: [], ended: false, closed: null };
    const owner: ConnOwner = {
      onUpstreamData: (c, buf) => c.execute(buf),
      onUpstreamHead(status, reason, headers, keepAlive) {
        Object.assign(seen, { status, reason, headers, keepAlive });
        return noBody;
      },
      // body slices are views of the connection's read buffer: copy them
      onUpstreamBody: (chunk) => void seen.body.push(Buffer.from(chunk)),
      onUpstreamEnd() {
        seen.ended = true;
        resolve(seen);
      },
      onUpstreamClose(err) {
        seen.closed = err ?? 'clean';
        resolve(seen);
      },
      onUpstreamDrain: () => undefined,
    };
    conn.owner = owner;
    conn.socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  });
}

function connect(port: number): Promise<Conn> {
  const b = new Backend('app', 'web.1', '127.0.0.1', port, 1, DEFAULT_POOL);
  return new Promise((resolve, reject) => b.acquire({ onConnected: (c) => resolve(c), onConnectFailed: (err) => reject(err) }));
}

const servers: Server[] = [];
const conns: Conn[] = [];
after(() => {
  // a failed assertion must not leave sockets holding the test process open
  for (const c of conns) c.destroy();
  for (const s of servers) s.close();
});

async function dyno(script: (string | Buffer)[][]) {
  const d = await scriptedDyno(script);
  servers.push(d.server);
  const conn = await connect(d.port);
  conns.push(conn);
  for (const s of d.sockets) s.unref();
  return { ...d, conn };
}

describe('dyno connection: response parsing', () => {
  test('a plain Content-Length response, in one read or in pieces, reaches the owner whole; the connection is reused', async () => {
    const big = Buffer.alloc(200_000, 'b');
    const { conn } = await dyno([
      ['HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Two:  spaced value  \r\nContent-Length: 13\r\n\r\nHello, World!'],
      ['HTTP/1.1 201 Created\r\nContent-Length: 200000\r\n\r\n', big.subarray(0, 70_000), big.subarray(70_000)],
      ['HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'],
    ]);
    const a = await exchange(conn);
    assert.deepEqual([a.status, a.reason, a.keepAlive, a.ended, a.closed], [200, 'OK', true, true, null]);
    assert.deepEqual(a.headers, ['Content-Type', 'text/plain', 'X-Two', 'spaced value', 'Content-Length', '13']);
    assert.equal(Buffer.concat(a.body).toString(), 'Hello, World!');
    const b = await exchange(conn);
    assert.deepEqual([b.status, b.reason, b.ended], [201, 'Created', true]);
    assert.ok(Buffer.concat(b.body).equals(big));
    const c = await exchange(conn);
    assert.deepEqual([c.status, c.body.length, c.ended], [404, 0, true]);
    assert.equal(conn.served, 3);
    assert.equal(conn.fastServed, 3, 'all three took the fast path');
    conn.destroy();
  });

  test('chunked, 1xx and split heads go through llhttp, and the fast path works again after them', async () => {
    const { conn } = await dyno([
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n', '6\r\n World\r\n0\r\n\r\n'],
      ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
      ['HTTP/1.1 200 OK\r\nContent-Le', 'ngth: 5\r\n\r\nsplit'],
      ['HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfast'],
    ]);
    const a = await exchange(conn);
    assert.equal(Buffer.concat(a.body).toString(), 'Hello World');
    assert.ok(a.ended);
    const b = await exchange(conn);
    assert.deepEqual([b.status, Buffer.concat(b.body).toString(), b.ended], [200, 'ok', true]);
    const c = await exchange(conn);
    assert.deepEqual([c.status, Buffer.concat(c.body).toString()], [200, 'split']);
    const d = await exchange(conn);
    assert.deepEqual([d.status, Buffer.concat(d.body).toString(), d.ended], [200, 'fast', true]);
    assert.equal(conn.served, 4);
    assert.equal(conn.fastServed, 2, 'the response after the 100 and the last one took the fast path');
    conn.destroy();
  });

  test('Connection: close is reported, a HEAD answer has no body, a 304 ignores its Content-Length', async () => {
    const { conn } = await dyno([
      ['HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n'],
      ['HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'],
      ['HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok'],
    ]);
    const head = await exchange(conn, true);
    assert.deepEqual([head.status, head.body.length, head.ended], [200, 0, true]);
    const nm = await exchange(conn, true);
    assert.deepEqual([nm.status, nm.body.length, nm.ended], [304, 0, true]);
    const close = await exchange(conn);
    assert.deepEqual([close.keepAlive, close.ended], [false, true]);
    assert.equal(conn.fastServed, 3);
    conn.release(); // not kept: the dyno said close
    await once(conn.socket, 'close');
    assert.equal(conn.closed, true);
  });

  test('malformed heads are refused by llhttp; bytes beyond Content-Length end the connection after the response', async () => {
    for (const bad of [
      'HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nX-Bad: a\rb\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok',
    ]) {
      const { conn } = await dyno([[bad]]);
      const r = await exchange(conn);
      assert.ok(r.closed instanceof Error, `${JSON.stringify(bad)} is refused (got ${JSON.stringify(r)})`);
      assert.equal(r.ended, false);
    }
    const { conn } = await dyno([['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA']]);
    const r = await exchange(conn);
    assert.deepEqual([Buffer.concat(r.body).toString(), r.ended], ['ok', true]);
    await once(conn.socket, 'close');
  });

  test('a dyno that dies mid-body leaves the owner with a close, not an end', async () => {
    const { conn, sockets } = await dyno([['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n', 'only part']]);
    const pending = exchange(conn);
    await new Promise((r) => setTimeout(r, 60));
    sockets[0]!.destroy();
    const r = await pending;
    assert.equal(r.ended, false);
    assert.ok(r.closed !== null);
    assert.equal(Buffer.concat(r.body).toString(), 'only part');
  });
});
