/**
 * The leader's half of usage (issue 19): a dyno on a lost host stops counting
 * at its node's lease expiry. When `nodes/{node}` is deleted (the lease
 * expired, or the agent left), every open run of that node is closed at that
 * moment (closedBy `lease`), in one transaction per run guarded on
 *
 *   usage-open/{node}/{run}   mod revision unchanged (the agent did not close it first)
 *   nodes/{node}              absent (the agent has not come back on a new lease meanwhile)
 *
 * A sweep at the start of each term and every minute catches deletions this
 * leader did not see (it was not leading then): those runs close at the sweep
 * time, so they may count up to one term change plus a minute longer.
 */
import type { Cluster } from '../../cluster/client.ts';
import { closeRun } from '../../cluster/usage.ts';
import { watchPrefix, type PrefixWatch } from '../../cluster/watch.ts';
import type { Logger } from '../../lib/log.ts';

export class UsageCloser {
  private watch: PrefixWatch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly cluster: Cluster, private readonly log: Logger, private readonly sweepMs = 60_000) {}

  start(): void {
    if (this.watch) return;
    this.watch = watchPrefix(this.cluster, this.cluster.keys.nodes(), {
      onChanges: (changes, _rev, initial) => {
        if (initial) return void this.enqueue(() => this.sweep());
        const at = Date.now();
        for (const c of changes) if (c.type === 'delete' && c.ref?.kind === 'node') {
          const node = c.ref.node;
          this.enqueue(() => this.closeNode(node, at));
        }
      },
    }, this.log);
    this.timer = setInterval(() => this.enqueue(() => this.sweep()), this.sweepMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.watch?.close();
    this.watch = undefined;
    await this.chain;
  }

  private enqueue(fn: () => Promise<unknown>): void {
    this.chain = this.chain.then(fn).then(() => undefined, (err: Error) => this.log.warn({ err: err.message }, 'usage-close-failed'));
  }

  /** Closes the open runs of a node that is gone, at `at`. */
  async closeNode(node: string, at: number): Promise<number> {
    const k = this.cluster.keys;
    const { entries } = await this.cluster.list(k.usageOpenOf(node));
    let n = 0;
    for (const e of entries) {
      if (e.kind !== 'usageOpen') continue;
      const ok = await closeRun(this.cluster, e.value, e.modRevision, at, 'lease', [{ key: k.node(node), target: 'create', op: '==', value: 0 }]);
      if (ok) n++;
    }
    if (n) this.log.info({ node, runs: n, at: new Date(at).toISOString() }, 'usage-closed-at-lease-expiry');
    return n;
  }

  /** Open runs of nodes that no longer exist, closed now. */
  async sweep(): Promise<void> {
    const k = this.cluster.keys;
    const [opens, nodes] = await Promise.all([this.cluster.list(k.usageOpens()), this.cluster.list(k.nodes())]);
    const live = new Set(nodes.entries.filter((e) => e.kind === 'node').map((e) => (e.value as { id: string }).id));
    const gone = new Set<string>();
    for (const e of opens.entries) if (e.kind === 'usageOpen' && !live.has(e.value.node)) gone.add(e.value.node);
    const now = Date.now();
    for (const node of gone) await this.closeNode(node, now);
  }
}
