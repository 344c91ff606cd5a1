/**
 * An isolated web dyno's $PORT is published by portmap DNAT only, so the agent holds it on
 * the host (dyno-node/ports.ts PortHold): no other process may get that port meanwhile, since
 * portmap's rules would send that process's local clients to the dyno instead (a router test's
 * backend once lost every connect that way while an isolated dyno had its port).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { holdFreePort, holdPort } from '../../dyno-node/ports.ts';

function listen(port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, host, () => resolve(s));
  });
}
const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));

test('a held port cannot be taken by another listener, on loopback or any address, until released', async () => {
  const hold = await holdFreePort(new Set());
  for (const host of ['127.0.0.1', '0.0.0.0']) {
    await assert.rejects(listen(hold.port, host), { code: 'EADDRINUSE' }, `${host}:${hold.port} while held`);
  }
  await hold.release();
  await close(await listen(hold.port, '127.0.0.1'));
});

test('ports this agent already handed out are skipped; a port in use is not held twice', async () => {
  const first = await holdFreePort(new Set());
  const second = await holdFreePort(new Set([first.port]));
  assert.notEqual(second.port, first.port);
  await assert.rejects(holdPort(first.port), { code: 'EADDRINUSE' });
  await Promise.all([first.release(), second.release()]);
});
