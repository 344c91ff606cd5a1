/**
 * Watch a prefix with resume: list at a revision, then watch from revision+1.
 *
 * - On disconnect the watch is re-created from the last revision *we processed*
 *   (etcd3's own resume takes the revision from the create response header, which
 *   can skip events that were not yet delivered, so we do not rely on it).
 * - On compaction (or any cancel) the prefix is listed again and the difference
 *   from what we hold is emitted as ordinary puts and deletes.
 * - A value that does not decode is logged once (naming the key) and treated as
 *   absent; the watch goes on.
 * - Per-key mod revisions drop anything already seen, so nothing is emitted twice.
 */
import type { Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { Cluster, Entry, RawKv } from './client.ts';
import { DecodeError } from './errors.ts';
import type { KeyRef } from './keys.ts';

export type Change =
  | { type: 'put'; entry: Entry }
  | { type: 'delete'; key: string; ref: KeyRef | undefined; revision: number };

export interface WatchHandler {
  /**
   * Changes that etcd delivered together (one batch per response, or one per re-list).
   * `complete` is false only for a `paged` handler's list pages before the last one.
   */
  onChanges(changes: Change[], revision: number, initial: boolean, complete: boolean): void;
  /**
   * Deliver a (re-)list page by page (1,000 keys each; deletes come with the last) instead
   * of in one batch: a big prefix is then never held decoded all at once. Only for handlers
   * that act on a partial list safely (the router's table; a dyno-node must see all of its
   * placements before it cleans up).
   */
  readonly paged?: boolean;
  /** Connected to etcd (true) or not (false); `error` says why when it went away. */
  onStatus?(connected: boolean, error?: Error): void;
}


/** One event of an etcd watch response, as etcd3 delivers it. */
interface WatchEvent {
  type: 'Put' | 'Delete';
  kv: RawKv;
}

/**
 * Keys per page for a `paged` handler: small enough that a page's decoded entries die
 * young instead of being promoted (5,000 left twice the old generation behind).
 */
const PAGE = 1000;
const MIN_BACKOFF = 100;
const MAX_BACKOFF = 2000;

export class PrefixWatch {
  /** key -> mod revision of what the handler currently holds (valid values only). */
  private readonly held = new Map<string, number>();
  /** key -> mod revision of a value we refused, so it is logged once. */
  private readonly refused = new Map<string, number>();
  private lastRevision = 0;
  private watcher: Watcher | undefined;
  private stopped = false;
  private connected = false;
  private backoff = MIN_BACKOFF;
  private timer: NodeJS.Timeout | undefined;
  /** Resolves once the first list has been handed to the handler and the watch is live. */
  readonly ready: Promise<void>;
  private markReady!: () => void;

  constructor(
    private readonly cluster: Cluster,
    readonly prefix: string,
    private readonly handler: WatchHandler,
    private readonly log: Logger,
  ) {
    this.ready = new Promise((r) => (this.markReady = r));
    void this.relist(true);
  }

  /** The last etcd revision whose changes reached the handler. */
  get revision(): number {
    return this.lastRevision;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.dropWatcher();
  }

  private async relist(initial: boolean): Promise<void> {
    if (this.stopped) return;
    const paged = this.handler.paged === true;
    // Keys seen in this list, to find the ones that went; nothing held yet means nothing went.
    const seen = this.held.size > 0 ? new Set<string>() : null;
    let changes: Change[] = [];
    let revision = 0;
    try {
      for await (const page of this.cluster.pages(this.prefix, undefined, paged ? PAGE : undefined)) {
        if (this.stopped) return;
        revision = page.revision;
        for (const bad of page.invalid) this.refuse(bad, NaN);
        for (const entry of page.entries) {
          seen?.add(entry.key);
          if (this.held.get(entry.key) !== entry.modRevision) changes.push({ type: 'put', entry });
        }
        if (paged && !page.last && changes.length > 0) {
          this.hold(changes);
          this.deliver(changes, revision, initial, false);
          changes = [];
        }
      }
    } catch (err) {
      // pages delivered so far are held; the next list re-delivers only what changed since
      this.setStatus(false, err as Error);
      return this.retry(() => this.relist(initial));
    }
    if (this.stopped) return;
    if (seen !== null) {
      for (const key of [...this.held.keys()]) {
        if (!seen.has(key)) changes.push({ type: 'delete', key, ref: this.cluster.keys.parse(key), revision });
      }
    }
    this.lastRevision = revision;
    this.hold(changes);
    if (changes.length > 0 || initial) this.deliver(changes, revision, initial, true);
    await this.watch();
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    await this.dropWatcher();
    // `watcher()` rather than `create()`: we hold the watcher from the start, so close() can
    // cancel one still waiting for etcd (etcd3 would otherwise retry it forever).
    const w = this.cluster.etcd.watch().prefix(this.prefix).startRevision(String(this.lastRevision + 1)).watcher();
    this.watcher = w;
    w.on('connected', () => {
      if (this.watcher !== w) return;
      this.backoff = MIN_BACKOFF;
      this.setStatus(true);
      this.markReady();
    });
    w.on('data', (res: { events: WatchEvent[] }) => this.onData(res.events));
    w.on('disconnected', (err: Error) => {
      if (this.watcher !== w) return;
      // Re-create from the revision we processed; etcd3's own retry may resume from a later one.
      this.setStatus(false, err);
      void this.dropWatcher();
      this.retry(() => this.watch());
    });
    w.on('error', (err: Error) => {
      if (this.watcher !== w) return;
      // A cancel (at creation or later) is how etcd reports a compacted start revision.
      this.log.warn({ err: err.message, prefix: this.prefix }, 'watch-canceled-relisting');
      void this.dropWatcher();
      this.retry(() => this.relist(false));
    });
  }

  private onData(events: WatchEvent[]): void {
    const changes: Change[] = [];
    let rev = this.lastRevision;
    for (const ev of events) {
      const key = ev.kv.key.toString();
      const mod = Number(ev.kv.mod_revision);
      if (mod > rev) rev = mod;
      const held = this.held.get(key);
      if (held !== undefined && held >= mod) continue; // already delivered
      if (ev.type === 'Delete') {
        this.refused.delete(key);
        if (held === undefined) continue;
        this.held.delete(key);
        changes.push({ type: 'delete', key, ref: this.cluster.keys.parse(key), revision: mod });
        continue;
      }
      try {
        const entry = this.cluster.entry(ev.kv);
        this.held.set(key, mod);
        this.refused.delete(key);
        changes.push({ type: 'put', entry });
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        this.refuse(err, mod);
        if (held !== undefined) {
          this.held.delete(key);
          changes.push({ type: 'delete', key, ref: this.cluster.keys.parse(key), revision: mod });
        }
      }
    }
    if (rev <= this.lastRevision && changes.length === 0) return;
    this.lastRevision = rev;
    if (changes.length > 0) this.deliver(changes, rev, false, true);
  }

  private refuse(err: DecodeError, mod: number): void {
    if (this.refused.has(err.key) && (Number.isNaN(mod) || this.refused.get(err.key) === mod)) return;
    this.refused.set(err.key, mod);
    this.log.error({ key: err.key, code: err.code, reason: err.reason }, 'undecodable-value-skipped');
  }

  /** Records list changes as held just before they are delivered (never before: a failed list delivers nothing). */
  private hold(changes: readonly Change[]): void {
    for (const c of changes) {
      if (c.type === 'put') this.held.set(c.entry.key, c.entry.modRevision);
      else this.held.delete(c.key);
    }
  }

  private deliver(changes: Change[], revision: number, initial: boolean, complete: boolean): void {
    try {
      this.handler.onChanges(changes, revision, initial, complete);
    } catch (err) {
      this.log.error({ err, prefix: this.prefix }, 'watch-handler-failed');
    }
  }

  private setStatus(connected: boolean, error?: Error): void {
    if (this.connected === connected) return;
    this.connected = connected;
    if (connected) this.log.info({ prefix: this.prefix, revision: this.lastRevision }, 'watch-connected');
    else this.log.warn({ prefix: this.prefix, revision: this.lastRevision, err: error?.message }, 'watch-disconnected');
    try {
      this.handler.onStatus?.(connected, error);
    } catch (err) {
      this.log.error({ err }, 'watch-status-handler-failed');
    }
  }

  private retry(fn: () => Promise<void>): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF);
    this.timer = setTimeout(() => void fn(), delay);
  }

  private async dropWatcher(): Promise<void> {
    const w = this.watcher;
    this.watcher = undefined;
    if (!w) return;
    await dropWatcher(w);
  }
}

/** Stops an etcd3 watcher for good: its handlers go, and a late error from it must not crash the process. */
export async function dropWatcher(w: Watcher): Promise<void> {
  w.removeAllListeners();
  w.on('error', () => undefined);
  await w.cancel().catch(() => undefined);
}

/** Starts a PrefixWatch; await `watch.ready` for the first full list. */
export function watchPrefix(cluster: Cluster, prefix: string, handler: WatchHandler, log: Logger): PrefixWatch {
  return new PrefixWatch(cluster, prefix, handler, log);
}
