/**
 * The apps that exist, from a watch on `apps/`: the log service stores lines
 * only for these, so a producer naming apps that do not exist allocates nothing.
 *
 * An app created an instant ago may reach a control peer's platform events
 * before it reaches this watch, so for a trusted peer (`confirm`) a miss is
 * looked up once in etcd (one lookup in flight per name).
 */
import type { Logger } from 'pino';
import type { Cluster } from '../../cluster/client.ts';
import { watchPrefix, type PrefixWatch } from '../../cluster/watch.ts';

export class KnownApps {
  private readonly names = new Set<string>();
  private readonly lookups = new Map<string, Promise<boolean>>();
  private watch: PrefixWatch | undefined;

  constructor(private readonly cluster: Cluster, private readonly log: Logger) {}

  /** Starts the watch; resolves after the first list. */
  start(): Promise<void> {
    this.watch ??= watchPrefix(this.cluster, this.cluster.keys.apps(), {
      onChanges: (changes) => {
        for (const c of changes) {
          if (c.type === 'put' && c.entry.kind === 'app') this.names.add(c.entry.ref.app);
          else if (c.type === 'delete' && c.ref?.kind === 'app') this.names.delete(c.ref.app);
        }
      },
    }, this.log);
    return this.watch.ready;
  }

  has(app: string): boolean {
    return this.names.has(app);
  }

  /** Whether `app` exists, asking etcd when the watch has not seen it (yet). */
  confirm(app: string): Promise<boolean> {
    if (this.names.has(app)) return Promise.resolve(true);
    let p = this.lookups.get(app);
    if (!p) {
      p = this.cluster.get(this.cluster.keys.app(app)).then((e) => {
        if (e) this.names.add(app);
        return !!e;
      }, () => false).finally(() => this.lookups.delete(app));
      this.lookups.set(app, p);
    }
    return p;
  }

  async close(): Promise<void> {
    await this.watch?.close();
    this.watch = undefined;
  }
}
