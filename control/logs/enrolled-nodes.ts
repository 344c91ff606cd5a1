/**
 * The dyno-nodes enrolled now, from a watch on `node-credentials/`: a node's
 * log connection is accepted only while it is enrolled, and `nodes:revoke`
 * closes the connections it has open (listeners get the node id).
 */
import type { Logger } from 'pino';
import type { Cluster } from '../../cluster/client.ts';
import { watchPrefix, type PrefixWatch } from '../../cluster/watch.ts';

export class EnrolledNodes {
  private readonly ids = new Set<string>();
  private readonly revokedFns: ((node: string) => void)[] = [];
  private watch: PrefixWatch | undefined;

  constructor(private readonly cluster: Cluster, private readonly log: Logger) {}

  /** Starts the watch; resolves after the first list. */
  start(): Promise<void> {
    this.watch ??= watchPrefix(this.cluster, this.cluster.keys.nodeCredentials(), {
      onChanges: (changes) => {
        for (const c of changes) {
          if (c.type === 'put' && c.entry.kind === 'nodeCredential') this.ids.add(c.entry.ref.node);
          else if (c.type === 'delete' && c.ref?.kind === 'nodeCredential' && this.ids.delete(c.ref.node)) {
            for (const f of this.revokedFns) f(c.ref.node);
          }
        }
      },
    }, this.log);
    return this.watch.ready;
  }

  has(node: string): boolean {
    return this.ids.has(node);
  }

  onRevoked(fn: (node: string) => void): void {
    this.revokedFns.push(fn);
  }

  async close(): Promise<void> {
    await this.watch?.close();
    this.watch = undefined;
  }
}
