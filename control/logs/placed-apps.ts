/**
 * Which apps have dynos placed on which node, from a watch on `dynos/`: a node's
 * log lines are accepted only for apps placed on it, so a stolen node cannot
 * write into other apps' streams. A placement that went still counts for
 * `graceMs` (a dyno's last lines, "Process exited", follow its removal).
 */
import type { Logger } from 'pino';
import type { Cluster } from '../../cluster/client.ts';
import { watchPrefix, type PrefixWatch } from '../../cluster/watch.ts';

export class PlacedApps {
  /** `node app` -> dynos placed there now. */
  private readonly placed = new Map<string, Set<string>>();
  /** `node app` -> when its last placement went. */
  private readonly gone = new Map<string, number>();
  private watch: PrefixWatch | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly log: Logger,
    private readonly graceMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts the watch; resolves after the first list. */
  start(): Promise<void> {
    this.watch ??= watchPrefix(this.cluster, this.cluster.keys.placements(), {
      onChanges: (changes) => {
        for (const c of changes) {
          if (c.type === 'put' && c.entry.kind === 'placement') {
            const k = `${c.entry.ref.node} ${c.entry.ref.app}`;
            let dynos = this.placed.get(k);
            if (!dynos) this.placed.set(k, (dynos = new Set()));
            dynos.add(c.entry.ref.dyno);
            this.gone.delete(k);
          } else if (c.type === 'delete' && c.ref?.kind === 'placement') {
            const k = `${c.ref.node} ${c.ref.app}`;
            const dynos = this.placed.get(k);
            dynos?.delete(c.ref.dyno);
            if (dynos?.size === 0) {
              this.placed.delete(k);
              this.gone.set(k, this.now());
            }
          }
        }
      },
    }, this.log);
    return this.watch.ready;
  }

  /** Whether `node` runs (or ran within the grace) a dyno of `app`. */
  has(node: string, app: string): boolean {
    const k = `${node} ${app}`;
    if (this.placed.has(k)) return true;
    const at = this.gone.get(k);
    if (at === undefined) return false;
    if (this.now() - at <= this.graceMs) return true;
    this.gone.delete(k);
    return false;
  }

  async close(): Promise<void> {
    await this.watch?.close();
    this.watch = undefined;
  }
}
