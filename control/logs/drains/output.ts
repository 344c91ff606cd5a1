/**
 * What every drain shares: a bounded backlog (Heroku's 1024 messages) that drops
 * its OLDEST messages when full, counts them, and puts an L10 line at the head
 * of what it delivers next (and in the app's own stream); delivery retries with
 * exponential backoff until `stop()`.
 */
import type { Logger } from 'pino';
import { Backoff } from '../../../lib/backoff.ts';
import { l10, nowMicros, type LogRecord } from '../../../logplex/record.ts';
import type { Drain } from '../../../cluster/records.ts';

export const DRAIN_BACKLOG = 1024;

export interface DrainStats {
  delivered: number;
  dropped: number;
  backlog: number;
  failures: number;
}

export abstract class DrainOutput {
  protected backlog: LogRecord[] = [];
  private dropped = 0;
  private droppedSince = 0;
  protected stopped = false;
  readonly stats: DrainStats = { delivered: 0, dropped: 0, backlog: 0, failures: 0 };
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | undefined;
  private busy = false;
  private refusedSaid = false;

  constructor(
    readonly drain: Drain,
    protected readonly log: Logger,
    /** Reports a drop in the app's own stream (Heroku shows L10 in `heroku logs`). */
    private readonly notice: (rec: LogRecord) => void,
    protected readonly maxBacklog = DRAIN_BACKLOG,
    minBackoffMs = 250,
    maxBackoffMs = 30_000,
  ) {
    this.backoff = new Backoff(minBackoffMs, maxBackoffMs);
  }

  push(recs: LogRecord[]): void {
    if (this.stopped || recs.length === 0) return;
    for (const r of recs) this.backlog.push(r);
    const over = this.backlog.length - this.maxBacklog;
    if (over > 0) {
      if (this.dropped === 0) this.droppedSince = this.backlog[0]!.ts;
      this.backlog.splice(0, over);
      this.dropped += over;
      this.stats.dropped += over;
    }
    this.stats.backlog = this.backlog.length;
    this.kick();
  }

  /** Runs one delivery unless one is running or a retry is pending. */
  protected kick(): void {
    if (this.busy || this.retryTimer || this.stopped || (!this.backlog.length && !this.dropped && !this.holding())) return;
    this.busy = true;
    if (this.dropped) {
      const rec: LogRecord = { app: this.drain.app, source: 'heroku', dyno: 'logplex', ts: nowMicros(), line: l10(this.dropped, this.droppedSince) };
      this.backlog.unshift(rec);
      this.notice(rec);
      this.log.warn({ drain: this.drain.id, app: this.drain.app, dropped: this.dropped }, 'drain-messages-dropped');
      this.dropped = 0;
    }
    void this.deliver().then(
      (n) => {
        this.busy = false;
        this.stats.delivered += n;
        this.stats.backlog = this.backlog.length;
        this.backoff.reset();
        if (n > 0) this.kick();
        // n === 0: the output is waiting (socket backed up or connecting) and calls kick() itself.
      },
      (err: Error) => {
        this.busy = false;
        this.stats.failures++;
        // A destination the guard refuses is said once (it may resolve elsewhere later, so we keep trying).
        const refused = err.name === 'EgressRefused';
        const retryMs = this.backoff.next();
        if (!refused || !this.refusedSaid) this.log.warn({ drain: this.drain.id, app: this.drain.app, err: err.message, retryMs }, refused ? 'drain-refused' : 'drain-delivery-failed');
        this.refusedSaid = refused;
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.kick();
        }, retryMs);
        this.retryTimer.unref();
      },
    );
  }

  /**
   * Delivers from the head of `backlog`, removing what was delivered; resolves
   * with how many, or rejects to be retried after a backoff (keeping the backlog).
   */
  protected abstract deliver(): Promise<number>;

  /** Whether the output holds taken-but-undelivered lines (a batch being retried). */
  protected holding(): boolean {
    return false;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }
}
