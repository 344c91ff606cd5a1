/**
 * Runs the drains of the apps this instance owns. Drain records live in etcd
 * (`drains/{app}/{id}`, written by the API); every instance watches them and
 * starts outputs only for its own apps, so a drain follows its app when the
 * owner changes.
 */
import type { Logger } from 'pino';
import type { Cluster } from '../../../cluster/client.ts';
import type { Drain } from '../../../cluster/records.ts';
import { watchPrefix, type PrefixWatch } from '../../../cluster/watch.ts';
import type { Egress } from '../../../lib/egress.ts';
import type { LogRecord } from '../../../logplex/record.ts';
import type { Entry } from '../store.ts';
import { HttpDrain } from './http.ts';
import type { DrainOutput } from './output.ts';
import { SyslogDrain } from './syslog.ts';

export class DrainManager {
  /** app -> drain id -> record, from etcd. */
  private readonly drains = new Map<string, Map<string, Drain>>();
  /** drain id -> running output (owned apps only). */
  private readonly outputs = new Map<string, DrainOutput>();
  private watch: PrefixWatch | undefined;
  /** L10 lines a drain wrote at its own head; they also go to the app's stream but not to drains again. */
  private readonly ownNotices = new WeakSet<LogRecord>();

  constructor(
    private readonly cluster: Cluster,
    private readonly owns: (app: string) => boolean,
    /** Appends a record to the app's stream (the store). */
    private readonly toStream: (rec: LogRecord) => void,
    private readonly log: Logger,
    /** Checks where drains connect (lib/egress.ts); drains are tenant-chosen destinations. */
    private readonly egress: Egress,
  ) {}

  private readonly notice = (rec: LogRecord): void => {
    this.ownNotices.add(rec);
    this.toStream(rec);
  };

  async start(): Promise<void> {
    this.watch = watchPrefix(this.cluster, this.cluster.keys.drains(), {
      onChanges: (changes) => {
        for (const c of changes) {
          if (c.type === 'put' && c.entry.kind === 'drain') {
            const d = c.entry.value;
            let m = this.drains.get(d.app);
            if (!m) this.drains.set(d.app, (m = new Map()));
            m.set(d.id, d);
          } else if (c.type === 'delete' && c.ref?.kind === 'drain') {
            this.drains.get(c.ref.app)?.delete(c.ref.id);
          }
        }
        this.reconcile();
      },
    }, this.log);
    await this.watch.ready;
  }

  /** Starts outputs for owned apps' drains, stops the rest. Call after ownership changes. */
  reconcile(): void {
    const want = new Set<string>();
    for (const [app, m] of this.drains) {
      if (!this.owns(app)) continue;
      for (const d of m.values()) {
        want.add(d.id);
        const running = this.outputs.get(d.id);
        if (running && running.drain.url === d.url) continue;
        running?.stop();
        this.outputs.set(d.id, this.make(d));
        this.log.info({ app, drain: d.id, url: redact(d.url) }, 'drain-started');
      }
    }
    for (const [id, o] of this.outputs) {
      if (want.has(id)) continue;
      o.stop();
      this.outputs.delete(id);
      this.log.info({ app: o.drain.app, drain: id }, 'drain-stopped');
    }
  }

  private make(d: Drain): DrainOutput {
    const log = this.log.child({ drain: d.id });
    const out = d.url.startsWith('syslog') ? new SyslogDrain(d, log, this.notice) : new HttpDrain(d, log, this.notice);
    out.egress = this.egress;
    return out;
  }

  /** Lines just stored for `app`. */
  push(app: string, entries: Entry[]): void {
    const m = this.drains.get(app);
    if (!m || m.size === 0) return;
    let recs: LogRecord[] | undefined;
    for (const id of m.keys()) {
      const o = this.outputs.get(id);
      if (!o) continue;
      recs ??= entries.filter((e) => !this.ownNotices.has(e.rec)).map((e) => e.rec);
      if (recs.length) o.push(recs);
    }
  }

  output(id: string): DrainOutput | undefined {
    return this.outputs.get(id);
  }

  async close(): Promise<void> {
    await this.watch?.close();
    for (const o of this.outputs.values()) o.stop();
    this.outputs.clear();
  }
}

/** Drain URLs can carry credentials (https://user:pass@...); never log them. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid url)';
  }
}
