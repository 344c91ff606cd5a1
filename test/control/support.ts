/** Helpers for control-plane tests: an in-process ControlPlane on a test etcd, and a tiny API client. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Cluster } from '../../cluster/client.ts';
import { Session } from '../../cluster/session.ts';
import type { Node } from '../../cluster/records.ts';
import { ControlPlane, type ControlOptions } from '../../control/control.ts';
import type { TestEtcd } from '../support/etcd.ts';

export const ADMIN = 'dm_test-admin-token-0123456789abcdef';

export interface ApiResult {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

export function client(base: string, token: string | null = ADMIN) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResult> => {
    const res = await fetch(base + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        accept: 'application/vnd.heroku+json; version=3',
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
}

export async function startControl(etcd: TestEtcd, cluster: Cluster, extra: Partial<ControlOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'dynomesh-control-'));
  const control = new ControlPlane({
    cluster: { endpoints: [etcd.server.endpoint], prefix: cluster.keys.prefix, callTimeoutMs: 3000 },
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: dir,
    clusterKeyPath: join(dir, 'cluster.key'),
    baseDomain: 'localhost',
    routerPort: 5000,
    id: `c-${randomBytes(3).toString('hex')}`,
    leaseTtlSeconds: 2,
    bootstrapToken: ADMIN,
    scheduler: { resyncMs: 1000 },
    ...extra,
  });
  await control.start();
  return {
    control,
    dir,
    api: client(control.url),
    async stop() {
      await control.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fake dyno-node: a node record on its own lease, as a real dyno-node registers. */
export async function fakeNode(cluster: Cluster, id: string, memoryMb = 4096, slugs: string[] = []): Promise<Session> {
  const session = await Session.create(cluster, 30);
  const node: Node = { id, address: '127.0.0.1', memoryMb, labels: {}, slugs, startedAt: Date.now(), agentVersion: 'test' };
  await session.put(cluster.keys.node(id), node);
  return session;
}

/** Every key and mod revision under the prefix: equal before and after means nothing was written. */
export async function dump(cluster: Cluster): Promise<Record<string, string>> {
  const all = await cluster.etcd.getAll().prefix(cluster.keys.prefix).exec();
  return Object.fromEntries(all.kvs.map((kv) => [kv.key.toString(), String(kv.mod_revision)]));
}
