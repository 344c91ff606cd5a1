/**
 * An immutable string-keyed map that is cheap to change: entries live in 256
 * buckets (by a string hash of the key), and `with()` copies only the buckets a
 * change touches, sharing the rest with the previous map. A table of 10,000
 * apps then takes one change in microseconds instead of copying 10,000 entries,
 * and a request still sees either the old map or the new one.
 */
const BUCKETS = 256;

/** FNV-1a over UTF-16 code units, folded to a bucket index. */
function bucketOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 16)) & (BUCKETS - 1);
}

const EMPTY_BUCKET: ReadonlyMap<string, never> = new Map<string, never>();

export class CowMap<V> implements Iterable<[string, V]> {
  private constructor(private readonly buckets: ReadonlyArray<ReadonlyMap<string, V>>, readonly size: number) {}

  static empty<V>(): CowMap<V> {
    return new CowMap<V>(new Array<ReadonlyMap<string, V>>(BUCKETS).fill(EMPTY_BUCKET), 0);
  }

  get(key: string): V | undefined {
    return this.buckets[bucketOf(key)]!.get(key);
  }

  has(key: string): boolean {
    return this.buckets[bucketOf(key)]!.has(key);
  }

  /** A new map with `changes` applied (value undefined = delete); this one is untouched. */
  with(changes: Iterable<[string, V | undefined]>): CowMap<V> {
    let buckets: Array<ReadonlyMap<string, V>> | null = null;
    const copied = new Uint8Array(BUCKETS);
    let size = this.size;
    for (const [k, v] of changes) {
      const i = bucketOf(k);
      buckets ??= this.buckets.slice();
      let m = buckets[i] as Map<string, V>;
      if (!copied[i]) {
        m = new Map(m);
        buckets[i] = m;
        copied[i] = 1;
      }
      const had = m.has(k);
      if (v === undefined) {
        if (had) {
          m.delete(k);
          size--;
        }
      } else {
        m.set(k, v);
        if (!had) size++;
      }
    }
    return buckets === null ? this : new CowMap(buckets, size);
  }

  *values(): IterableIterator<V> {
    for (const b of this.buckets) yield* b.values();
  }

  *[Symbol.iterator](): IterableIterator<[string, V]> {
    for (const b of this.buckets) yield* b.entries();
  }
}
