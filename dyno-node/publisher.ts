/**
 * What this node asserts in etcd about its dynos: status and endpoint keys, all
 * on the node's lease. Callers say what each key should hold (or that it should
 * be gone); the publisher writes it, latest value wins, retries what failed,
 * and writes everything again on a new lease after the old one was lost.
 *
 * Deletes only remove a key this node owns (its `node` field), so a dyno the
 * scheduler moved to another host keeps that host's endpoint.
 */
import type { Cluster } from '../cluster/client.ts';
import type { Key } from '../cluster/keys.ts';
import type { DynoStatus, Endpoint } from '../cluster/records.ts';
import type { Logger } from '../lib/log.ts';

type Wanted = { kind: 'status'; key: Key<'status'>; value: DynoStatus } | { kind: 'endpoint'; key: Key<'endpoint'>; value: Endpoint };

export class Publisher {
  private readonly want = new Map<string, Wanted>();
  /** Keys whose etcd state may differ from `want` (a write failed or was skipped without a lease). */
  private readonly dirty = new Map<string, Key<'status'> | Key<'endpoint'>>();
  private readonly chains = new Map<string, Promise<void>>();
  private lease: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly nodeId: string,
    private readonly log: Logger,
    retryMs = 1000,
  ) {
    this.timer = setInterval(() => this.retryDirty(), retryMs);
    this.timer.unref();
  }

  /** The node's current lease; undefined while it is lost (writes wait for the next one). */
  setLease(lease: string | undefined): void {
    this.lease = lease;
    if (lease) for (const [k, w] of this.want) this.dirty.set(k, w.key);
    this.retryDirty();
  }

  status(key: Key<'status'>, value: DynoStatus): Promise<void> {
    this.want.set(key, { kind: 'status', key, value });
    return this.write(key);
  }

  endpoint(key: Key<'endpoint'>, value: Endpoint): Promise<void> {
    this.want.set(key, { kind: 'endpoint', key, value });
    return this.write(key);
  }

  /** Stop asserting a key and delete it if it is still ours. */
  remove(key: Key<'status'> | Key<'endpoint'>): Promise<void> {
    this.want.delete(key);
    return this.write(key);
  }

  holds(key: string): boolean {
    return this.want.has(key);
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** Wait for every queued write (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }

  private write(key: Key<'status'> | Key<'endpoint'>): Promise<void> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(() => this.apply(key));
    this.chains.set(key, next);
    void next.finally(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
    return next;
  }

  private async apply(key: Key<'status'> | Key<'endpoint'>): Promise<void> {
    const w = this.want.get(key);
    try {
      if (w) {
        if (!this.lease) {
          this.dirty.set(key, key);
          return;
        }
        if (w.kind === 'status') await this.cluster.put(w.key, w.value, this.lease);
        else await this.cluster.put(w.key, w.value, this.lease);
      } else {
        const cur = await this.cluster.get(key);
        if (cur && (cur.value as { node?: string }).node === this.nodeId) {
          // keys: the status or endpoint key; compare: its mod revision is what we read (still ours); result: deleted.
          await this.cluster.txn([{ key, target: 'mod', op: '==', value: cur.modRevision }], [{ del: key }]);
        }
      }
      this.dirty.delete(key);
    } catch (err) {
      this.dirty.set(key, key);
      this.log.warn({ key, err: (err as Error).message }, 'publish-failed-will-retry');
    }
  }

  private retryDirty(): void {
    for (const [k, key] of this.dirty) {
      if (this.chains.has(k)) continue;
      if (this.want.has(k) && !this.lease) continue;
      this.dirty.delete(k);
      void this.write(key);
    }
  }
}
