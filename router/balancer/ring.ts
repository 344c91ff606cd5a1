/**
 * A consistent-hash ring over an app's web dynos (ketama via the `hashring`
 * package: md5, 160 points per dyno). Points are derived from dyno *names*,
 * not addresses, so every router with the same etcd data builds the same ring,
 * and a dyno restarted on another port keeps its keys.
 */
import HashRing from 'hashring';

/** Rings by their names (joined), shared while any app uses them. */
const shared = new Map<string, WeakRef<Ring>>();
const forget = new FinalizationRegistry<string>((key) => {
  if (shared.get(key)?.deref() === undefined) shared.delete(key);
});

export class Ring {
  /**
   * The ring for these dyno names, shared by every app with the same names: a
   * ring is a pure function of the names (160 points each), and 10,000 apps of
   * web.1..web.10 would otherwise hold 16 million ring points.
   */
  static of(names: readonly string[]): Ring {
    const key = names.join('\n');
    const hit = shared.get(key)?.deref();
    if (hit !== undefined) return hit;
    const r = new Ring(names);
    shared.set(key, new WeakRef(r));
    forget.register(r, key);
    return r;
  }

  private readonly ring: HashRing;
  private readonly slot = new Map<string, number>();

  /** `names[i]` is the dyno behind backend slot i. */
  constructor(readonly names: readonly string[]) {
    this.ring = new HashRing([...names], 'md5', { 'max cache size': 5000 });
    names.forEach((n, i) => this.slot.set(n, i));
  }

  /** Slot of the dyno that owns `key` (the ring's LRU makes repeated keys cheap). */
  primary(key: string): number {
    const name = this.ring.get(key);
    return name === undefined ? -1 : this.slot.get(name)!;
  }

  /**
   * Slots in ring order starting at the owner of `key`, each once. `visit`
   * returns true to stop. Used only when the primary is skipped.
   */
  walk(key: string, visit: (slot: number) => boolean): void {
    const points = this.ring.ring;
    const n = points.length;
    if (n === 0) return;
    const start = this.ring.find(this.ring.hashValue(key));
    const seen = new Uint8Array(this.names.length);
    let left = this.names.length;
    for (let i = 0; i < n && left > 0; i++) {
      const s = this.slot.get(points[(start + i) % n]!.server)!;
      if (seen[s]) continue;
      seen[s] = 1;
      left--;
      if (visit(s)) return;
    }
  }
}
