/**
 * The producer side of the log pipeline, used by routers, dyno-nodes and the
 * control plane itself. `write()` never blocks and never throws: it appends to
 * the owning instance's queue and returns. The total held (queued + unacked)
 * is bounded; past the bound, records are dropped and counted per app, and the
 * count is reported in the app's stream as an `L10` line once there is room.
 *
 * Owners come from `LogMembers` (rendezvous over live control members). When
 * the member set changes, queued records of moved apps, and everything held for
 * a member that left, are rerouted to the new owner in order.
 */
import type { Logger } from 'pino';
import type { Cluster } from '../cluster/client.ts';
import type { ProducerCredential } from './credential.ts';
import { Link, type Item } from './link.ts';
import { LogMembers, type LogMember } from './owners.ts';
import { l10, nowMicros, splitLine, type LogRecord, type Source } from './record.ts';
import { fromWire, type Frame } from './wire.ts';

export interface ShipperOptions {
  /** Who this producer is to the log service (logplex/credential.ts). */
  credential: ProducerCredential;
  /** Records held at most (queued and unacked, all apps). */
  maxBuffered?: number;
  batchMax?: number;
  /** How long a record may wait for others to share its batch. */
  flushMs?: number;
  maxInflight?: number;
  ackTimeoutMs?: number;
  /** The log service in this same process: its apps are delivered without a socket. */
  local?: { id: string; deliver(recs: LogRecord[], hops: number): void };
}

export interface ShipperStats {
  buffered: number;
  acked: number;
  dropped: number;
}

/** What producers hand in; `ts` defaults to now. */
export interface LogInput {
  app: string;
  source: Source;
  dyno: string;
  line: string;
  ts?: number;
}

export class LogShipper {
  private readonly links = new Map<string, Link>();
  /** Records with no owner yet (no log service registered). */
  private pending: Item[] = [];
  /** Records for the log service in this process (`opts.local`). */
  private localQueue: Item[] = [];
  private ownsMembers = false;
  private readonly drops = new Map<string, { n: number; since: number }>();
  private buffered = 0;
  private ackedTotal = 0;
  private droppedTotal = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly tick: NodeJS.Timeout;
  private readonly unwatch: () => void;
  private closed = false;
  private readonly o: Required<Omit<ShipperOptions, 'local' | 'credential'>>;

  constructor(readonly members: LogMembers, private readonly log: Logger, private readonly opts: ShipperOptions) {
    this.o = {
      maxBuffered: opts.maxBuffered ?? 20_000,
      batchMax: opts.batchMax ?? 1000,
      flushMs: opts.flushMs ?? 20,
      maxInflight: opts.maxInflight ?? 16,
      ackTimeoutMs: opts.ackTimeoutMs ?? 15_000,
    };
    this.unwatch = members.onChange(() => this.reroute());
    this.tick = setInterval(() => this.housekeeping(), 500);
    this.tick.unref();
  }

  /**
   * A shipper with its own member watch, for routers and dyno-nodes. Returns at
   * once: lines written before the first member list (or while etcd is down) wait
   * in the bounded buffer and go out when an owner is known.
   */
  static forCluster(cluster: Cluster, log: Logger, opts: ShipperOptions): LogShipper {
    const members = new LogMembers(cluster, log);
    members.start().catch((err: Error) => log.warn({ err: err.message }, 'log-members-watch-failed'));
    const s = new LogShipper(members, log, opts);
    s.ownsMembers = true;
    return s;
  }

  get stats(): ShipperStats {
    return { buffered: this.buffered, acked: this.ackedTotal, dropped: this.droppedTotal };
  }

  /** Hands one line to the pipeline. Never blocks; lines over 10,000 bytes become several records. */
  write(input: LogInput): void {
    if (this.closed || !input.app) return;
    const ts = input.ts ?? nowMicros();
    // Full: count the drop before allocating a record. Records made only to be dropped, right after
    // 20,000 that stayed, get allocated straight into the old generation by V8 (allocation-site
    // pretenuring) and are collected by full GCs only: at 30k lines/s that cost a router 10-20 ms pauses.
    if (this.buffered >= this.o.maxBuffered) return this.drop(input.app, ts);
    const parts = splitLine(input.line);
    for (let i = 0; i < parts.length; i++) this.admit({ w: [input.app, input.source, input.dyno, ts, parts[i]!], hops: 0 });
    this.scheduleFlush();
  }

  /** Records another instance sent us for an app we do not own: pass them on (hops counts the passes). */
  forward(recs: LogRecord[], hops: number): void {
    if (this.closed) return;
    for (const r of recs) this.admit({ w: [r.app, r.source, r.dyno, r.ts, r.line], hops });
    this.scheduleFlush();
  }

  /** Sends an app's history to the member that now owns it (see control/logs/README.md). */
  handoff(member: LogMember, frame: Frame): void {
    this.linkFor(member).sendControl(frame);
  }

  private admit(item: Item): void {
    const app = item.w[0];
    if (this.buffered >= this.o.maxBuffered) return this.drop(app, item.w[3]);
    const d = this.drops.get(app);
    if (d) {
      // Report the gap before the first line after it.
      this.drops.delete(app);
      this.route({ w: [app, 'heroku', 'logplex', nowMicros(), l10(d.n, d.since)], hops: 0 });
    }
    this.route(item);
  }

  /** A record that did not fit: counted for the app's next `L10` line. */
  private drop(app: string, ts: number): void {
    const d = this.drops.get(app);
    if (d) d.n++;
    else this.drops.set(app, { n: 1, since: ts });
    this.droppedTotal++;
  }

  /** Queues an item on its owner's link (counted in `buffered`). */
  private route(item: Item): void {
    this.buffered++;
    const owner = this.members.owner(item.w[0]);
    if (!owner) {
      this.pending.push(item);
      return;
    }
    if (this.opts.local && owner.id === this.opts.local.id) {
      // Delivered on the next flush, never inside the caller's stack.
      this.localQueue.push(item);
      return;
    }
    this.linkFor(owner).queue.push(item);
  }

  private linkFor(m: LogMember): Link {
    const k = `${m.id}@${m.logs}`;
    let l = this.links.get(k);
    if (!l) {
      l = new Link(m, { acked: (n) => this.acked(n), log: this.log, credential: this.opts.credential }, this.o);
      this.links.set(k, l);
    }
    return l;
  }

  private acked(n: number): void {
    this.buffered -= n;
    this.ackedTotal += n;
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => this.flush(), this.o.flushMs);
  }

  private flush(): void {
    this.flushTimer = undefined;
    if (this.localQueue.length && this.opts.local) {
      const q = this.localQueue;
      this.localQueue = [];
      let hops = 0;
      for (const it of q) if (it.hops > hops) hops = it.hops;
      this.buffered -= q.length;
      this.ackedTotal += q.length;
      try {
        this.opts.local.deliver(q.map((it) => fromWire(it.w)), hops);
      } catch (err) {
        this.log.error({ err }, 'log-local-deliver-failed');
      }
    }
    for (const l of this.links.values()) l.pump();
  }

  /** The member set changed: move what moved, drop links to members that left. */
  private reroute(): void {
    const live = new Set(this.members.list().map((m) => `${m.id}@${m.logs}`));
    let moved: Item[] = this.pending;
    this.pending = [];
    for (const [k, l] of this.links) {
      if (!live.has(k)) {
        moved = moved.concat(l.close());
        this.links.delete(k);
        continue;
      }
      // Queued (not yet sent) records of apps this member no longer owns.
      const keep: Item[] = [];
      for (const it of l.queue) {
        if (this.members.owner(it.w[0])?.id === l.member.id) keep.push(it);
        else moved.push(it);
      }
      l.queue = keep;
    }
    if (this.opts.local) {
      const keep: Item[] = [];
      for (const it of this.localQueue) (this.members.owner(it.w[0])?.id === this.opts.local.id ? keep : moved).push(it);
      this.localQueue = keep;
    }
    if (moved.length) this.log.info({ records: moved.length }, 'log-records-rerouted');
    this.buffered -= moved.length;
    for (const it of moved) this.route(it);
    this.scheduleFlush();
  }

  private housekeeping(): void {
    const now = Date.now();
    for (const l of this.links.values()) l.checkStuck(now);
    // Drops with no later line of that app would never be reported: report them once there is room.
    if (this.drops.size && this.buffered < this.o.maxBuffered) {
      for (const [app, d] of this.drops) {
        if (this.buffered >= this.o.maxBuffered) break;
        this.drops.delete(app);
        this.route({ w: [app, 'heroku', 'logplex', nowMicros(), l10(d.n, d.since)], hops: 0 });
      }
      this.scheduleFlush();
    }
  }

  /** Waits up to `flushTimeoutMs` for everything held to be acked, then closes the connections. */
  async close(flushTimeoutMs = 2000): Promise<void> {
    if (this.closed) return;
    const deadline = Date.now() + flushTimeoutMs;
    this.flush();
    const busy = () => (this.buffered > 0 && this.pending.length < this.buffered) || [...this.links.values()].some((l) => !l.idle);
    while (busy() && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      this.flush();
    }
    this.closed = true;
    clearTimeout(this.flushTimer);
    clearInterval(this.tick);
    this.unwatch();
    if (this.buffered > 0) this.log.warn({ records: this.buffered }, 'log-records-unsent-at-close');
    for (const l of this.links.values()) l.close();
    this.links.clear();
    if (this.ownsMembers) await this.members.close();
  }
}
