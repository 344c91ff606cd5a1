/**
 * Leader election on a session, as etcd's `concurrency.Election`:
 * each candidate writes `election/{lease hex}` on its lease; the key with the
 * lowest create revision leads. A candidate waits only for its predecessor's key
 * to go away, so there is no thundering herd when the leader dies.
 *
 * Fencing: `leaderCompare()` is a txn compare that holds only while this
 * candidate is still the one that was elected; put it in every write a leader makes.
 */
import { EventEmitter } from 'node:events';
import type { Watcher } from 'etcd3';
import type { Cluster, Compare } from './client.ts';
import { NotLeaderError } from './errors.ts';
import type { Session } from './session.ts';
import { dropWatcher } from './watch.ts';

export class Election extends EventEmitter<{ leader: [string | undefined]; error: [Error] }> {
  private myKey: string | undefined;
  private myCreateRevision = 0;
  private resigned = false;
  private observing = false;
  private current: string | undefined;
  private observer: Watcher | undefined;
  /** Ends the current wait for a predecessor (resign() calls it: no polling). */
  private wake: (() => void) | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly session: Session,
  ) {
    super();
  }

  private get prefix(): string {
    return this.cluster.keys.election();
  }

  /**
   * Become a candidate with `value` (e.g. this instance's id) and resolve once leader.
   * Rejects if the session is lost or `resign()` is called while waiting.
   */
  async campaign(value: string): Promise<void> {
    this.resigned = false;
    const key = this.prefix + this.session.hex;
    // keys: control/election/{lease}; compare: it does not exist; result: our candidacy on the session lease.
    const r = await this.cluster.txn(
      [{ key, target: 'create', op: '==', value: 0 }],
      [{ put: key, value: Buffer.from(value), lease: this.session.id }],
    );
    this.myKey = key;
    const mine = await this.cluster.rawList(key);
    const kv = mine.kvs.find((k) => k.key.toString() === key);
    if (!kv) throw new NotLeaderError();
    this.myCreateRevision = Number(kv.create_revision);
    if (!r.succeeded && kv.value.toString() !== value) {
      // our key from before (same session): take the new value only while the key is still that one
      await this.cluster.txn(
        [{ key, target: 'create', op: '==', value: this.myCreateRevision }],
        [{ put: key, value: Buffer.from(value), lease: this.session.id }],
      );
    }
    for (;;) {
      if (this.resigned) throw new NotLeaderError();
      if (this.session.lost) throw new NotLeaderError();
      const pred = await this.cluster.rawList(this.prefix, { maxCreateRevision: this.myCreateRevision - 1, lastCreated: true });
      const p = pred.kvs[0];
      if (!p) return;
      await this.waitDeleted(p.key.toString(), pred.revision);
    }
  }

  /** A txn compare that fails once this candidate is no longer the elected one. */
  leaderCompare(): Compare {
    if (!this.myKey) throw new NotLeaderError();
    return { key: this.myKey, target: 'create', op: '==', value: this.myCreateRevision };
  }

  /** Give up leadership (or candidacy) now; the next candidate takes over at once. */
  async resign(): Promise<void> {
    this.resigned = true;
    this.wake?.();
    if (!this.myKey) return;
    const key = this.myKey;
    this.myKey = undefined;
    // keys: our candidate key; compare: its create revision is our campaign's; result: deleted (a newer campaign's is kept).
    await this.cluster.txn([{ key, target: 'create', op: '==', value: this.myCreateRevision }], [{ del: key }]).catch(() => undefined);
  }

  /** The current leader's value, or undefined when there is none. */
  async leader(): Promise<string | undefined> {
    const res = await this.cluster.rawList(this.prefix);
    let best: { rev: number; value: string } | undefined;
    for (const kv of res.kvs) {
      const rev = Number(kv.create_revision);
      if (!best || rev < best.rev) best = { rev, value: kv.value.toString() };
    }
    return best?.value;
  }

  /** Stop observing (the candidacy itself ends with `resign()` or the session). */
  async close(): Promise<void> {
    const w = this.observer;
    this.observer = undefined;
    this.observing = false;
    if (w) await dropWatcher(w);
  }

  /** Emit `leader` whenever the leader changes (undefined while there is none). */
  async observe(): Promise<void> {
    if (this.observing) return;
    this.observing = true;
    const check = async () => {
      try {
        const l = await this.leader();
        if (l !== this.current) {
          this.current = l;
          this.emit('leader', l);
        }
      } catch (err) {
        this.emit('error', err as Error);
      }
    };
    const w = await this.cluster.etcd.watch().prefix(this.prefix).create();
    this.observer = w;
    w.on('data', () => void check());
    w.on('connected', () => void check());
    w.on('error', () => void check());
    await check();
  }

  private async waitDeleted(key: string, revision: number): Promise<void> {
    const w = await this.cluster.etcd.watch().key(key).startRevision(String(revision + 1)).create();
    let onLost: (() => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        onLost = () => reject(new NotLeaderError());
        this.session.once('lost', onLost);
        // Any of these means "look again from the top": the predecessor went away, or we cannot tell.
        w.on('delete', () => resolve());
        w.on('error', () => resolve());
        w.on('disconnected', () => resolve());
        this.wake = resolve;
        if (this.resigned) resolve();
      });
    } finally {
      this.wake = undefined;
      if (onLost) this.session.off('lost', onLost);
      await dropWatcher(w);
    }
  }
}
