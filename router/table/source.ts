/**
 * Feeds the route table from etcd: one prefix watch on `routing/` (list at a
 * revision, then watch from revision+1; resumes and re-lists through the
 * cluster watch). Changes become deltas, the builder makes a new table, and
 * `onApplied` swaps it in. While etcd is unreachable nothing is pruned: the last
 * table keeps serving ("fail static") and the status says so.
 */
import type { Logger } from 'pino';
import type { Cluster } from '../../cluster/client.ts';
import { watchPrefix, type PrefixWatch } from '../../cluster/watch.ts';
import type { TableBuilder } from './builder.ts';
import { deltasFrom, type Delta, type KeyOpener } from './delta.ts';
import type { RouteTable } from './route-table.ts';
import { collectGarbage } from '../../lib/gc.ts';

/** Endpoints from which the first load is followed by one full GC (below, start-up garbage is small). */
const BIG_TABLE = 10_000;

export interface SourceStatus {
  connected: boolean;
  /** Epoch ms of the last change applied or confirmed by a (re)connect. */
  syncedAt: number;
  /** Epoch ms since when etcd is unreachable, 0 when connected. */
  disconnectedSince: number;
}

export class RouteSource {
  readonly status: SourceStatus = { connected: false, syncedAt: 0, disconnectedSince: Date.now() };
  private watch: PrefixWatch | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly builder: TableBuilder,
    /**
     * After each batch is applied: its deltas (for worker threads) and the new table, or null
     * for a list page before the last (nothing is built, or served, from half a list).
     */
    private readonly onApplied: (deltas: readonly Delta[], revision: number, table: RouteTable | null) => void,
    private readonly log: Logger,
    /** Opens certificates' sealed keys (HTTPS routers); without it certificates are left out. */
    private readonly openKey?: KeyOpener,
  ) {}

  /** Resolves after the first full list was applied (the router may then listen). */
  async start(): Promise<void> {
    this.watch = watchPrefix(this.cluster, this.cluster.keys.routing(), {
      // A list arrives page by page (the first one is 100,000+ keys on a big cluster): each page
      // is applied as it comes, so the whole decoded list never exists at once; the table is
      // built once the last page is in.
      paged: true,
      onChanges: (changes, revision, initial, complete) => {
        const deltas = deltasFrom(changes, this.openKey);
        this.builder.apply(deltas);
        if (!complete) return this.onApplied(deltas, revision, null);
        const t = this.builder.build(revision);
        this.status.syncedAt = Date.now();
        this.onApplied(deltas, revision, t);
        if (initial) {
          // The decoded pages of a big first list are garbage now; an idle router would keep them resident.
          if (t.endpointCount >= BIG_TABLE) collectGarbage();
          this.log.info({ revision, apps: t.apps.size, endpoints: t.endpointCount }, 'route-table-loaded');
        }
        else this.log.debug({ revision, deltas: deltas.length }, 'route-table-updated');
      },
      onStatus: (connected, err) => {
        this.status.connected = connected;
        if (connected) {
          this.status.disconnectedSince = 0;
          this.status.syncedAt = Date.now();
          this.log.info({ revision: this.watch?.revision }, 'etcd-connected');
        } else {
          this.status.disconnectedSince = Date.now();
          const t = this.builder.table;
          // Before the first list there is no table to serve: the router waits (and does not listen yet).
          this.log.warn(
            { err: err?.message, revision: t.revision, apps: t.apps.size, endpoints: t.endpointCount },
            t.revision === 0 ? 'etcd-unreachable-waiting-for-first-table' : 'etcd-unreachable-serving-last-table',
          );
        }
      },
    }, this.log);
    await this.watch.ready;
  }

  async close(): Promise<void> {
    await this.watch?.close();
  }
}
