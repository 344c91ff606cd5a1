/**
 * The leader's reconcile loop. Any change under the cluster prefix to what a
 * pass reads (apps, current releases, formations, nodes, placements, statuses,
 * endpoints) or a periodic resync
 * triggers one pass: read the world from etcd, plan, apply. Passes never overlap;
 * a change during a pass schedules one more. Every write carries the election's
 * fence, so a deposed leader's writes fail and it stops at once.
 */
import { EventEmitter } from 'node:events';
import type { Watcher } from 'etcd3';
import type { Cluster, Compare, Op } from '../../cluster/client.ts';
import { dropWatcher } from '../../cluster/watch.ts';
import type { Logger } from '../../lib/log.ts';
import { plan, type Action } from './plan.ts';
import { readWorld } from './snapshot.ts';

export interface SchedulerOptions {
  /** Full reconcile even without changes (catches anything a watch missed). */
  resyncMs?: number;
  /** Coalesce bursts of changes into one pass. */
  debounceMs?: number;
}

const MAX_OPS = 100;
/** Key kinds a pass reads; changes to others (builds, tokens, logs...) do not wake the scheduler. */
const RELEVANT = new Set(['app', 'current', 'formation', 'node', 'placement', 'status', 'endpoint', 'cordon']);

export class Scheduler extends EventEmitter<{ deposed: []; reconciled: [Action[]] }> {
  private watcher: Watcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private dirty = false;
  private stopped = false;
  private lastUnplaced = '';
  readonly resyncMs: number;
  readonly debounceMs: number;

  constructor(
    private readonly cluster: Cluster,
    /** The leader's fence (Election.leaderCompare()). */
    private readonly fence: () => Compare,
    private readonly log: Logger,
    opts: SchedulerOptions = {},
  ) {
    super();
    this.resyncMs = opts.resyncMs ?? 5000;
    this.debounceMs = opts.debounceMs ?? 25;
  }

  async start(): Promise<void> {
    const w = await this.cluster.etcd.watch().prefix(this.cluster.keys.prefix).create();
    if (this.stopped) {
      await w.cancel().catch(() => undefined);
      return;
    }
    this.watcher = w;
    w.on('data', (res: { events?: { kv: { key: Buffer } }[] }) => {
      if ((res.events ?? []).some((e) => RELEVANT.has(this.cluster.keys.parse(e.kv.key.toString())?.kind ?? ''))) this.kick();
    });
    w.on('connected', () => this.kick());
    w.on('error', (err: Error) => this.log.warn({ err: err.message }, 'scheduler-watch-error'));
    this.timer = setInterval(() => this.kick(), this.resyncMs);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    const w = this.watcher;
    this.watcher = undefined;
    if (w) await dropWatcher(w);
    await this.running?.catch(() => undefined);
  }

  /** Ask for a pass soon. */
  kick(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.debounce || this.running) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.loop();
    }, this.debounceMs);
  }

  private async loop(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = (async () => {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        try {
          await this.reconcile();
        } catch (err) {
          this.log.warn({ err: (err as Error).message }, 'reconcile-failed');
          await new Promise((r) => setTimeout(r, 500));
          this.dirty = true;
        }
      }
    })();
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
  }

  /**
   * One pass: read, plan, apply in fenced transactions of up to MAX_OPS actions:
   *
   *   keys:    dynos/{node}/{app}/{dyno} (puts and deletes)
   *   compare: the leader's fence (its election key), each new placement does not exist
   *   result:  the applied actions; a lost compare ends the pass (the next one reads again),
   *            a lost fence stops the scheduler
   */
  async reconcile(): Promise<Action[]> {
    const world = await readWorld(this.cluster);
    if (this.stopped) return [];
    const { actions, unplaced } = plan(world);
    const u = JSON.stringify(unplaced);
    if (u !== '{}' && u !== this.lastUnplaced) this.log.warn({ unplaced }, 'dynos-unplaceable');
    this.lastUnplaced = u;
    if (actions.length === 0) return actions;
    const k = this.cluster.keys;
    for (let i = 0; i < actions.length; i += MAX_OPS) {
      const batch = actions.slice(i, i + MAX_OPS);
      const compares: Compare[] = [this.fence()];
      const ops: Op[] = [];
      for (const a of batch) {
        if (a.op === 'put') {
          const key = k.placement(a.node, a.placement.app, a.placement.dyno);
          compares.push({ key, target: 'create', op: '==', value: 0 });
          ops.push({ put: key, value: this.cluster.value(key, a.placement) });
        } else {
          ops.push({ del: k.placement(a.node, a.app, a.dyno) });
        }
      }
      if (this.stopped) return [];
      const r = await this.cluster.txn(compares, ops);
      if (!r.succeeded) {
        const still = await this.cluster.txn([this.fence()], []);
        if (!still.succeeded) {
          this.log.warn('scheduler-deposed');
          this.stopped = true;
          this.emit('deposed');
          return [];
        }
        this.dirty = true; // someone changed a placement under us: plan again
        return [];
      }
    }
    for (const a of actions) {
      const dyno = a.op === 'put' ? a.placement.dyno : a.dyno;
      const app = a.op === 'put' ? a.placement.app : a.app;
      this.log.info({ app, dyno, node: a.node, reason: a.reason, release: a.op === 'put' ? a.placement.release : undefined }, a.op === 'put' ? 'dyno-placed' : 'dyno-unplaced');
    }
    this.emit('reconciled', actions);
    return actions;
  }
}
