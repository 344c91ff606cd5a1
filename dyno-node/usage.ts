/**
 * Dyno usage, as this node sees it (issue 19; cluster/usage.ts has the rules).
 * Every run (formation dynos, one-offs, release phase) is opened in etcd when its
 * process starts (`usage-open/{node}/{run}`) and marked ended (`end`) when it exits;
 * the control's leader then moves it into month intervals. Both writes stay in
 * this node's own prefix and are idempotent per run id, so an agent restart does
 * not count anything twice:
 *
 *   - a run the restarted agent adopts keeps its open record (same run id);
 *   - an open record of a run that is not alive any more (it ended while no agent
 *     ran, or the agent died between its end and the write) is ended at the
 *     last time this agent was known alive (`usage-alive` in the data dir, written
 *     every few seconds), never later;
 *   - a run whose open record is gone while it still runs (the control closed it
 *     when this node's lease expired: a partition or a restart longer than the
 *     TTL) is reopened from now, so the time the host was unreachable is not billed.
 *
 * Writes that fail (etcd down) are retried in order until they succeed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Cluster } from '../cluster/client.ts';
import type { UsageOpen } from '../cluster/records.ts';
import { endRun } from '../cluster/usage.ts';
import type { Logger } from '../lib/log.ts';

/** What usage needs of a run (dyno-node/run.ts `Run`). */
export interface MeteredRun {
  readonly id: string;
  readonly state: string;
  readonly placement: { app: string; dyno: string; type: string; size: string };
}

const ALIVE_EVERY_MS = 2000;

export class UsageMeter {
  private chain: Promise<void> = Promise.resolve();
  private readonly live = new Map<string, UsageOpen>();
  private readonly timer: NodeJS.Timeout;
  /** When the previous agent process last said it was alive (0: never). */
  readonly lastAlive: number;
  private closed = false;

  constructor(private readonly cluster: Cluster, private readonly nodeId: string, private readonly aliveFile: string, private readonly log: Logger) {
    let last = 0;
    try {
      last = Number(readFileSync(aliveFile, 'utf8')) || 0;
    } catch {
      // first start
    }
    this.lastAlive = last;
    this.timer = setInterval(() => this.beat(), ALIVE_EVERY_MS);
    this.timer.unref();
  }

  private beat(): void {
    try {
      writeFileSync(`${this.aliveFile}`, String(Date.now()), { mode: 0o600 });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'usage-alive-write-failed');
    }
  }

  /**
   * Every state change of a run this agent runs (the agent wraps the run's onChange):
   * counted from when its process runs (`starting`) until it exits. A run that never
   * got that far (failed to prepare, stopped before spawning) is not counted.
   */
  onChange(run: MeteredRun): void {
    if ((run.state === 'starting' || run.state === 'up') && !this.live.has(run.id)) this.open(run, Date.now());
    else if (run.state === 'exited' && this.live.has(run.id)) {
      const end = Date.now();
      this.live.delete(run.id);
      this.enqueue(`close ${run.id}`, () => this.close(run.id, end));
    }
  }

  /** A run a previous agent process started: its open record is kept (or, if there is none, it counts from now). */
  adopt(run: MeteredRun): void {
    if (!this.live.has(run.id)) this.open(run, Date.now());
  }

  private open(run: MeteredRun, start: number): void {
    const p = run.placement;
    const open: UsageOpen = { app: p.app, dyno: p.dyno, type: p.type, size: p.size, node: this.nodeId, run: run.id, start };
    this.live.set(run.id, open);
    this.enqueue(`open ${run.id}`, () => this.ensureOpen(open));
  }

  /** After the node's lease was lost and a new one taken: reopen (from now) live runs the control closed meanwhile. */
  resync(): void {
    for (const open of this.live.values()) this.enqueue(`reopen ${open.run}`, () => this.ensureOpen({ ...open, start: Date.now() }));
  }

  /**
   * At start, before anything runs: every open record of this node whose run is not in
   * `alive` ended while no agent watched it; close it at the last beat of the previous agent.
   */
  async sweep(alive: Set<string>): Promise<void> {
    const { entries } = await this.cluster.list(this.cluster.keys.usageOpenOf(this.nodeId));
    for (const e of entries) {
      if (e.kind !== 'usageOpen' || alive.has(e.value.run) || e.value.end !== undefined) continue;
      const end = Math.min(Date.now(), Math.max(e.value.start, this.lastAlive));
      const ok = await endRun(this.cluster, e.value, e.modRevision, end);
      this.log.info({ app: e.value.app, dyno: e.value.dyno, run: e.value.run, end, ok }, 'usage-dead-run-ended');
    }
    this.beat();
  }

  private async ensureOpen(open: UsageOpen): Promise<void> {
    const key = this.cluster.keys.usageOpen(open.node, open.run);
    // Only if absent: an adopted run keeps the start it was opened with.
    await this.cluster.txn([{ key, target: 'create', op: '==', value: 0 }], [{ put: key, value: this.cluster.value(key, open) }]);
  }

  private async close(run: string, end: number): Promise<void> {
    const e = await this.cluster.get(this.cluster.keys.usageOpen(this.nodeId, run));
    if (!e || e.value.end !== undefined) return; // closed by the control (lease expiry) and not reopened: nothing more to count
    if (!(await endRun(this.cluster, e.value, e.modRevision, end))) throw new Error('open record changed while ending it');
  }

  /** Runs `fn` after everything queued before it, retrying it (every 2 s) until it succeeds or the meter closes. */
  private enqueue(what: string, fn: () => Promise<void>): void {
    this.chain = this.chain.then(async () => {
      for (let attempt = 0; !this.closed || attempt === 0; attempt++) {
        try {
          return await fn();
        } catch (err) {
          if (attempt === 0) this.log.warn({ what, err: (err as Error).message }, 'usage-write-failed-retrying');
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
    });
  }

  /** Waits (bounded) for queued writes, then stops. */
  async stop(waitMs = 3000): Promise<void> {
    await Promise.race([this.chain, new Promise((r) => setTimeout(r, waitMs))]);
    this.closed = true;
    clearInterval(this.timer);
    this.beat();
  }
}
