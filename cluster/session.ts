/**
 * A session is one etcd lease kept alive in the background, like etcd's
 * `concurrency.Session`. Keys written with it vanish when the holder dies.
 *
 * `lost` fires once when the lease is gone for good (expired during a partition
 * longer than the TTL, or revoked by someone else). A lost session is not
 * revived: make a new one and re-register what it carried.
 */
import { EventEmitter } from 'node:events';
import type { Lease } from 'etcd3';
import type { Cluster } from './client.ts';
import type { Key } from './keys.ts';
import type { RecordKind, RecordOf } from './records.ts';

export class Session extends EventEmitter<{ lost: [Error] }> {
  private closed = false;
  private isLost = false;
  /** Resolves with the reason when the lease is lost. */
  readonly done: Promise<Error>;

  private constructor(
    private readonly cluster: Cluster,
    private readonly lease: Lease,
    /** Lease id as etcd's decimal string. */
    readonly id: string,
    readonly ttl: number,
  ) {
    super();
    this.done = new Promise((resolve) => this.once('lost', resolve));
    lease.on('lost', (err: Error) => {
      if (this.closed || this.isLost) return;
      this.isLost = true;
      this.emit('lost', err);
    });
  }

  static async create(cluster: Cluster, ttlSeconds: number): Promise<Session> {
    const lease = cluster.etcd.lease(ttlSeconds);
    lease.on('lost', () => undefined); // handled per Session; avoids an unhandled 'error'-like emit before wiring
    const id = await lease.grant();
    return new Session(cluster, lease, String(id), ttlSeconds);
  }

  /** Lease id in hex, as etcdctl prints it and as election keys use it. */
  get hex(): string {
    return BigInt(this.id).toString(16);
  }

  get lost(): boolean {
    return this.isLost;
  }

  put<K extends RecordKind>(key: Key<K>, value: RecordOf[K]): Promise<number> {
    return this.cluster.put(key, value, this.id);
  }

  /** Stop refreshing without revoking: keys stay until the TTL runs out (hand-over on upgrade). */
  orphan(): void {
    this.closed = true;
    this.lease.release();
  }

  /** Revoke the lease now: every key on it is deleted at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lease.revoke().catch(() => undefined);
  }
}
