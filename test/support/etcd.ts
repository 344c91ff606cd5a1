/**
 * Real etcd for integration tests: one throwaway single-member etcd per test file,
 * a Cluster client on its own prefix per test, and everything stopped afterwards.
 */
import { after, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Cluster } from '../../cluster/client.ts';
import { EtcdServer } from '../../cluster/etcd-server.ts';

export interface TestEtcd {
  server: EtcdServer;
  /** A new client on a fresh prefix, closed after the file's tests. */
  cluster(prefix?: string): Cluster;
}

/** Call at the top level of a test file. */
export function useEtcd(): TestEtcd {
  const server = new EtcdServer();
  const clients: Cluster[] = [];
  before(async () => {
    await server.start();
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.destroy();
  });
  return {
    server,
    cluster(prefix = `/t-${randomBytes(4).toString('hex')}/`) {
      const c = new Cluster({ endpoints: [server.endpoint], prefix, callTimeoutMs: 3000 });
      clients.push(c);
      return c;
    },
  };
}

/** Poll every `everyMs` until `fn` returns a truthy value (or throw after `timeoutMs`). */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition', everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
