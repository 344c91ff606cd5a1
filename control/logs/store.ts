/**
 * The last 1500 lines of each app this instance owns, in arrival order, and the
 * tails attached to them. Lines are formatted once, on arrival.
 */
import { formatRecord, type LogRecord } from '../../logplex/record.ts';
import { MAX_LINES } from './filter.ts';

export interface Entry {
  rec: LogRecord;
  text: string;
}

export interface Subscriber {
  push(entries: Entry[]): void;
  /** The app moved to another instance (or this one is stopping): end the stream so the reader resumes elsewhere. */
  close(reason: string): void;
}

/** A ring of the newest `capacity` entries. */
export class AppLog {
  private readonly ring: (Entry | undefined)[];
  private start = 0;
  size = 0;
  readonly subscribers = new Set<Subscriber>();

  constructor(readonly capacity = MAX_LINES) {
    this.ring = new Array(capacity);
  }

  push(e: Entry): void {
    if (this.size < this.capacity) {
      this.ring[(this.start + this.size) % this.capacity] = e;
      this.size++;
    } else {
      this.ring[this.start] = e;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** Inserts older entries (a handoff from the previous owner) before what is held, keeping the newest. */
  prepend(older: Entry[]): void {
    const all = older.concat(this.entries());
    this.start = 0;
    this.size = 0;
    this.ring.fill(undefined);
    for (const e of all.slice(-this.capacity)) this.push(e);
  }

  /** The newest `n` entries that pass `match`, oldest first. */
  last(n: number, match?: (r: LogRecord) => boolean): Entry[] {
    const out: Entry[] = [];
    for (let i = this.size - 1; i >= 0 && out.length < n; i--) {
      const e = this.ring[(this.start + i) % this.capacity]!;
      if (!match || match(e.rec)) out.push(e);
    }
    return out.reverse();
  }

  entries(): Entry[] {
    return this.last(this.size);
  }
}

export class LogStore {
  private readonly apps = new Map<string, AppLog>();
  /** Called with every appended batch of an app (drains). */
  onAppend: ((app: string, entries: Entry[]) => void) | undefined;

  constructor(private readonly capacity = MAX_LINES) {}

  get(app: string): AppLog | undefined {
    return this.apps.get(app);
  }

  private appLog(app: string): AppLog {
    let a = this.apps.get(app);
    if (!a) this.apps.set(app, (a = new AppLog(this.capacity)));
    return a;
  }

  /** Appends records (any mix of apps) in order; tails and drains see each app's batch once. */
  append(recs: LogRecord[]): void {
    let app = '';
    let batch: Entry[] = [];
    for (const rec of recs) {
      if (rec.app !== app) {
        this.emit(app, batch);
        app = rec.app;
        batch = [];
      }
      const e = { rec, text: formatRecord(rec) };
      this.appLog(app).push(e);
      batch.push(e);
    }
    this.emit(app, batch);
  }

  private emit(app: string, batch: Entry[]): void {
    if (!batch.length) return;
    const a = this.apps.get(app)!;
    for (const s of a.subscribers) s.push(batch);
    this.onAppend?.(app, batch);
  }

  prepend(app: string, recs: LogRecord[]): void {
    this.appLog(app).prepend(recs.map((rec) => ({ rec, text: formatRecord(rec) })));
  }

  subscribe(app: string, s: Subscriber): () => void {
    const a = this.appLog(app);
    a.subscribers.add(s);
    return () => a.subscribers.delete(s);
  }

  appNames(): string[] {
    return [...this.apps.keys()];
  }

  /** Gives up an app (it moved): ends its tails and returns its lines for the new owner. */
  release(app: string, reason: string): LogRecord[] {
    const a = this.apps.get(app);
    if (!a) return [];
    this.apps.delete(app);
    for (const s of a.subscribers) s.close(reason);
    return a.entries().map((e) => e.rec);
  }

  closeAll(reason: string): void {
    for (const a of this.apps.values()) for (const s of a.subscribers) s.close(reason);
  }
}
