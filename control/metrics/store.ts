/**
 * The metrics store of one control instance (issue 19). Its log service hands
 * it the samples of the apps it owns (logplex/metrics.ts; the owner is the log
 * owner, rendezvous over live members: control/logs/README.md); it adds them
 * into per-minute deltas in memory and every `flushMs` adds each delta to the
 * minute's etcd key with a compare-and-swap:
 *
 *   metrics/{app}/{minute}  AppMinute   read, merge delta, put if mod_revision unchanged (else re-read)
 *                                       on the lease of the minute's hour, which expires retentionHours later
 *
 * Why etcd and not the owner's disk: any instance answers a read straight from
 * etcd, a restarted or new owner (leader change, host loss) finds the history
 * there, and two instances that briefly both think they own an app (views of the
 * member set differ) each add their delta without losing the other's. The cost
 * is bounded: at most one small write (about 0.3-2 KB) per active app per
 * flush (10 s), none for idle apps, and etcd drops old minutes itself when their
 * hour's lease expires (no sweeper). Samples acked but not yet flushed are lost
 * if the instance dies (at most `flushMs` of them).
 */
import type { Cluster } from '../../cluster/client.ts';
import { retryTxn } from '../../cluster/retry-txn.ts';
import type { AppMinute } from '../../cluster/records.ts';
import type { Logger } from '../../lib/log.ts';
import { parseSample } from '../../logplex/metrics.ts';
import { addSample, emptyMinute, mergeMinutes } from './minute.ts';

export interface MetricsStoreOptions {
  flushMs?: number;
  /** How long minutes are kept (etcd lease per hour). */
  retentionHours?: number;
  /** Deltas held at most (app-minutes); past it, samples are dropped and counted. */
  maxPending?: number;
  now?: () => number;
}

export class MetricsStore {
  private pending = new Map<string, AppMinute>();
  private readonly leases = new Map<number, Promise<string>>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  readonly counters = { samples: 0, invalid: 0, dropped: 0, writes: 0, conflicts: 0, failures: 0 };
  private readonly o: Required<MetricsStoreOptions>;

  constructor(private readonly cluster: Cluster, private readonly log: Logger, opts: MetricsStoreOptions = {}) {
    this.o = { flushMs: opts.flushMs ?? 10_000, retentionHours: opts.retentionHours ?? 26, maxPending: opts.maxPending ?? 50_000, now: opts.now ?? Date.now };
  }

  get retentionSeconds(): number {
    return this.o.retentionHours * 3600;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.o.flushMs);
    this.timer.unref();
  }

  /** One sample line of `app` (from its log owner's service). Never throws. */
  add(app: string, line: string): void {
    const s = parseSample(line);
    if (!s) return void this.counters.invalid++;
    const nowS = this.o.now() / 1000;
    // Clocks differ a little between hosts; a sample far in the past or future is refused.
    if (s.m < nowS - this.retentionSeconds + 3600 || s.m > nowS + 120) return void this.counters.invalid++;
    const k = `${app}@${s.m}`;
    let m = this.pending.get(k);
    if (!m) {
      if (this.pending.size >= this.o.maxPending) return void this.counters.dropped++;
      m = emptyMinute(app, s.m);
      this.pending.set(k, m);
    }
    addSample(m, s);
    this.counters.samples++;
  }

  /** Adds every pending delta to etcd (one flush at a time); deltas that fail stay for the next one. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushOnce());
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    for (const [k, delta] of batch) {
      try {
        await this.addToEtcd(delta);
      } catch (err) {
        this.counters.failures++;
        const again = this.pending.get(k);
        this.pending.set(k, again ? mergeMinutes(delta, again) : delta);
        this.log.warn({ app: delta.app, minute: delta.minute, err: (err as Error).message }, 'metrics-flush-failed');
      }
    }
  }

  /**
   * delta + what etcd holds.
   * Keys: metrics/{app}/{minute}. Compares: that key's mod revision (create revision 0 when
   * absent). Result: the key holds the sum, on its hour's lease.
   */
  private async addToEtcd(delta: AppMinute): Promise<void> {
    const key = this.cluster.keys.appMinute(delta.app, delta.minute);
    const lease = await this.leaseFor(delta.minute);
    await retryTxn(this.cluster, 'the metrics minute kept changing under us', async (attempt) => {
      if (attempt > 0) this.counters.conflicts++;
      const cur = await this.cluster.get(key);
      const merged = cur ? mergeMinutes(cur.value, delta) : delta;
      const guard = cur ? { key, target: 'mod' as const, op: '==' as const, value: cur.modRevision } : { key, target: 'create' as const, op: '==' as const, value: 0 };
      return { compares: [guard], ops: [{ put: key, value: this.cluster.value(key, merged), lease }], result: undefined };
    });
    this.counters.writes++;
  }

  /** The lease of a minute's hour: it expires retentionHours after the hour ends. */
  private leaseFor(minute: number): Promise<string> {
    const hour = Math.floor(minute / 3600) * 3600;
    let p = this.leases.get(hour);
    if (!p) {
      const ttl = Math.max(60, Math.ceil(hour + 3600 + this.retentionSeconds - this.o.now() / 1000));
      const lease = this.cluster.etcd.lease(ttl, { autoKeepAlive: false });
      p = lease.grant().then((id) => {
        lease.release();
        return String(id);
      });
      p.catch(() => this.leases.delete(hour));
      this.leases.set(hour, p);
      // Hours well past are not written again.
      for (const h of this.leases.keys()) if (h < hour - 3 * 3600) this.leases.delete(h);
    }
    return p;
  }

  /** Minutes of `app` in [fromS, toS) (unix s): etcd's, plus this instance's deltas not flushed yet. */
  async minutes(app: string, fromS: number, toS: number): Promise<AppMinute[]> {
    const start = this.cluster.keys.appMinute(app, Math.max(0, fromS));
    const end = this.cluster.keys.appMinute(app, Math.max(0, toS));
    const out = new Map<number, AppMinute>();
    for (const e of await this.cluster.range(start, end)) out.set(e.value.minute, e.value);
    for (const m of this.pending.values()) {
      if (m.app !== app || m.minute < fromS || m.minute >= toS) continue;
      const have = out.get(m.minute);
      out.set(m.minute, have ? mergeMinutes(have, m) : m);
    }
    return [...out.values()].sort((a, b) => a.minute - b.minute);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush().catch(() => undefined);
  }
}
