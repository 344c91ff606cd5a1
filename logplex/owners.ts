/**
 * Which log service instance owns an app: rendezvous (highest random weight)
 * hashing over the live control members that run a log service. Every process
 * computes the same owner from the same member list, with no coordination, and
 * a member leaving moves only the apps it owned.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Cluster } from '../cluster/client.ts';
import { watchPrefix, type PrefixWatch } from '../cluster/watch.ts';

export interface LogMember {
  id: string;
  /** `host:port` of its log service. */
  logs: string;
  /** Its Platform API base URL (history and tail requests are forwarded there). */
  api: string;
}

function weight(memberId: string, app: string): bigint {
  return createHash('sha1').update(memberId).update('\0').update(app).digest().readBigUInt64BE(0);
}

/** The owner of `app` among `members` (undefined when there is none). */
export function ownerOf(app: string, members: Iterable<LogMember>): LogMember | undefined {
  let best: LogMember | undefined;
  let bestW = -1n;
  for (const m of members) {
    const w = weight(m.id, app);
    if (w > bestW || (w === bestW && best && m.id < best.id)) {
      best = m;
      bestW = w;
    }
  }
  return best;
}

/**
 * The live log service members, from an etcd watch on `control/members/`.
 * `owner(app)` is cached per app until the member set changes.
 */
export class LogMembers {
  private readonly members = new Map<string, LogMember>();
  private readonly cache = new Map<string, LogMember | undefined>();
  private readonly listeners = new Set<() => void>();
  private watch: PrefixWatch | undefined;

  constructor(private readonly cluster: Cluster, private readonly log: Logger) {}

  /** Starts the watch; resolves after the first list. */
  async start(): Promise<void> {
    if (this.watch) return this.watch.ready;
    this.watch = watchPrefix(this.cluster, this.cluster.keys.members(), {
      onChanges: (changes) => {
        let changed = false;
        for (const c of changes) {
          if (c.type === 'put' && c.entry.kind === 'member') {
            const v = c.entry.value;
            const prev = this.members.get(v.id);
            if (v.logs) {
              if (!prev || prev.logs !== v.logs || prev.api !== v.api) {
                this.members.set(v.id, { id: v.id, logs: v.logs, api: v.api });
                changed = true;
              }
            } else if (prev) {
              this.members.delete(v.id);
              changed = true;
            }
          } else if (c.type === 'delete' && c.ref?.kind === 'member') {
            changed = this.members.delete(c.ref.id) || changed;
          }
        }
        if (changed) {
          this.cache.clear();
          this.log.info({ members: [...this.members.keys()] }, 'log-members-changed');
          for (const l of this.listeners) l();
        }
      },
    }, this.log);
    return this.watch.ready;
  }

  owner(app: string): LogMember | undefined {
    if (this.cache.has(app)) return this.cache.get(app);
    const o = ownerOf(app, this.members.values());
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(app, o);
    return o;
  }

  get(id: string): LogMember | undefined {
    return this.members.get(id);
  }

  list(): LogMember[] {
    return [...this.members.values()];
  }

  /** Called after every change of the member set. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async close(): Promise<void> {
    await this.watch?.close();
    this.watch = undefined;
  }
}
