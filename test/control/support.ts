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

/**
 * A simulated dyno-node: registers a node on a lease, and for each placement the
 * scheduler gives it, reports the dyno `up` and publishes its endpoint after
 * `bootMs` (as a real node does once the dyno accepts TCP); removes the endpoint
 * first when the placement goes away.
 */
export class SimNode {
  private timers = new Map<string, NodeJS.Timeout>();
  private constructor(
    readonly id: string,
    readonly session: Session,
    private readonly watch: import('../../cluster/watch.ts').PrefixWatch,
  ) {}

  static async start(cluster: Cluster, id: string, opts: { memoryMb?: number; bootMs?: number } = {}): Promise<SimNode> {
    const { watchPrefix } = await import('../../cluster/watch.ts');
    const { logger } = await import('../../lib/log.ts');
    const session = await fakeNode(cluster, id, opts.memoryMb ?? 4096);
    const k = cluster.keys;
    let self: SimNode | undefined;
    const pending: (() => void)[] = [];
    const w = watchPrefix(cluster, k.placementsOf(id), {
      onChanges(changes) {
        for (const c of changes) {
          const run = () => {
            if (c.type === 'put' && c.entry.kind === 'placement') {
              const p = c.entry.value;
              const key = `${p.app}/${p.dyno}`;
              clearTimeout(self!.timers.get(key));
              self!.timers.set(key, setTimeout(() => {
                void (async () => {
                  await session.put(k.status(id, p.app, p.dyno), {
                    app: p.app, dyno: p.dyno, node: id, release: p.release, state: 'up', since: Date.now(), restarts: 0, exitCode: null, message: '', nextRestartAt: null,
                  });
                  if (p.type === 'web') await session.put(k.endpoint(id, p.app, p.dyno), { app: p.app, dyno: p.dyno, node: id, host: '127.0.0.1', port: 1, release: p.release });
                })().catch(() => undefined);
              }, opts.bootMs ?? 150));
            } else if (c.type === 'delete' && c.ref?.kind === 'placement') {
              const { app, dyno } = c.ref;
              clearTimeout(self!.timers.get(`${app}/${dyno}`));
              void (async () => {
                const ep = await cluster.get(k.endpoint(id, app, dyno));
                if (ep?.value.node === id) await cluster.delete(k.endpoint(id, app, dyno));
                const st = await cluster.get(k.status(id, app, dyno));
                if (st?.value.node === id) await cluster.delete(k.status(id, app, dyno));
              })().catch(() => undefined);
            }
          };
          if (self) run();
          else pending.push(run);
        }
      },
    }, logger('sim-node', { node: id }));
    self = new SimNode(id, session, w);
    for (const f of pending) f();
    await w.ready;
    return self;
  }

  /** The node dies: its lease is revoked, so its node record, statuses and endpoints vanish. */
  async kill(): Promise<void> {
    for (const t of this.timers.values()) clearTimeout(t);
    await this.watch.close();
    await this.session.close();
  }
}
