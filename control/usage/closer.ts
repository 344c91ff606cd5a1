/**
 * The leader's half of usage (issue 19). Nodes write only their own
 * `usage-open/{node}/{run}` keys; the leader turns them into billing intervals:
 *
 *   - a run its node marked ended (`end`) is closed at that end (closedBy `node`);
 *   - a dyno on a lost host stops counting at its node's lease expiry: when
 *     `nodes/{node}` is deleted, every run of that node not yet ended is closed
 *     at that moment (closedBy `lease`).
 *
 * Each close is one transaction per run (cluster/usage.ts `closeRun`) guarded on
 *
 *   usage-open/{node}/{run}   mod revision unchanged (the node did not write it meanwhile)
 *   nodes/{node}              absent (lease closes only: the agent has not come back on a new lease)
 *
 * A sweep at the start of each term and every minute catches what this leader
 * did not see (it was not leading then): ended runs close at their end; runs of
 * nodes that are gone close at the sweep time, so they may count up to one term
 * change plus a minute longer than the lease.
 */
import type { Cluster } from '../../cluster/client.ts';
import type { UsageOpen } from '../../cluster/records.ts';
import { closeRun } from '../../cluster/usage.ts';
import { watchPrefix, type PrefixWatch } from '../../cluster/watch.ts';
import type { Logger } from '../../lib/log.ts';

export class UsageCloser {
  private watches: PrefixWatch[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly cluster: Cluster, private readonly log: Logger, private readonly sweepMs = 60_000) {}

  start(): void {
    if (this.watches.length) return;
    const k = this.cluster.keys;
    this.watches.push(watchPrefix(this.cluster, k.nodes(), {
      onChanges: (changes, _rev, initial) => {
        if (initial) return void this.enqueue(() => this.sweep());
        const at = Date.now();
        for (const c of changes) if (c.type === 'delete' && c.ref?.kind === 'node') {
          const node = c.ref.node;
          this.enqueue(() => this.closeNode(node, at));
        }
      },
    }, this.log));
    this.watches.push(watchPrefix(this.cluster, k.usageOpens(), {
      onChanges: (changes) => {
        for (const c of changes) {
          if (c.type !== 'put' || c.entry.kind !== 'usageOpen' || c.entry.value.end === undefined) continue;
          const { value, modRevision } = c.entry;
          this.enqueue(() => closeRun(this.cluster, value, modRevision, value.end!, 'node'));
        }
      },
    }, this.log));
    this.timer = setInterval(() => this.enqueue(() => this.sweep()), this.sweepMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.watches.map((w) => w.close()));
    this.watches = [];
    await this.chain;
  }

  private enqueue(fn: () => Promise<unknown>): void {
    this.chain = this.chain.then(fn).then(() => undefined, (err: Error) => this.log.warn({ err: err.message }, 'usage-close-failed'));
  }

  /** Closes the runs of a node that is gone: ended ones at their end, the others at `at`. */
  async closeNode(node: string, at: number): Promise<number> {
    const k = this.cluster.keys;
    const { entries } = await this.cluster.list(k.usageOpenOf(node));
    let n = 0;
    for (const e of entries) {
      if (e.kind !== 'usageOpen') continue;
      const ok = e.value.end !== undefined
        ? await closeRun(this.cluster, e.value, e.modRevision, e.value.end, 'node')
        : await closeRun(this.cluster, e.value, e.modRevision, at, 'lease', [{ key: k.node(node), target: 'create', op: '==', value: 0 }]);
      if (ok && e.value.end === undefined) n++;
    }
    if (n) this.log.info({ node, runs: n, at: new Date(at).toISOString() }, 'usage-closed-at-lease-expiry');
    return n;
  }

  /** Ended runs, and runs of nodes that no longer exist (closed now). */
  async sweep(): Promise<void> {
    const k = this.cluster.keys;
    const [opens, nodes] = await Promise.all([this.cluster.list(k.usageOpens()), this.cluster.list(k.nodes())]);
    const live = new Set(nodes.entries.flatMap((e) => (e.kind === 'node' ? [e.value.id] : [])));
    const gone = new Set<string>();
    for (const e of opens.entries) {
      if (e.kind !== 'usageOpen') continue;
      const o: UsageOpen = e.value;
      if (o.end !== undefined) await closeRun(this.cluster, o, e.modRevision, o.end, 'node');
      else if (!live.has(o.node)) gone.add(o.node);
    }
    const now = Date.now();
    for (const node of gone) await this.closeNode(node, now);
  }
}
