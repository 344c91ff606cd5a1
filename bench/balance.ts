/**
 * The balancer's spread, measured the way the router builds its ring: the `hashring`
 * package (ketama, md5, 160 points per node) over dyno *names* (web.1..web.N), keyed by
 * client address (the default 'ip' affinity). Reports max/mean keys per dyno for 100k
 * keys, and which fraction of keys move when one of the dynos is removed (ideal: 1/N,
 * all from the removed dyno).
 */
import { createRequire } from 'node:module';

interface Ring {
  get(key: string): string | undefined;
}
type RingCtor = new (servers: string[], algorithm?: string, options?: Record<string, unknown>) => Ring;
const HashRing = createRequire(import.meta.url)('hashring') as RingCtor;

export interface BalanceResult {
  dynos: number;
  keys: number;
  max_over_mean: number;
  min_over_mean: number;
  moved_fraction: number;
  /** Of the keys that moved, the fraction that had been on the removed dyno (1.0 = minimal disruption). */
  moved_from_removed: number;
  ideal_moved_fraction: number;
}

/** Deterministic distinct client addresses 10.a.b.c. */
export function clientKeys(n: number): string[] {
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  return out;
}

export function loadStats(counts: readonly number[]): { max_over_mean: number; min_over_mean: number } {
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
  return { max_over_mean: Math.max(...counts) / mean, min_over_mean: Math.min(...counts) / mean };
}

export function measureBalance(dynoCount = 10, keyCount = 100_000): BalanceResult {
  const names = Array.from({ length: dynoCount }, (_, i) => `web.${i + 1}`);
  const keys = clientKeys(keyCount);
  // No LRU: every key is distinct anyway, and the cache would only hide the ring.
  const full = new HashRing(names, 'md5', { 'max cache size': 1 });
  const removed = names[names.length - 1]!;
  const less = new HashRing(names.slice(0, -1), 'md5', { 'max cache size': 1 });
  const counts = new Map(names.map((n) => [n, 0]));
  let moved = 0;
  let movedFromRemoved = 0;
  for (const k of keys) {
    const a = full.get(k)!;
    counts.set(a, counts.get(a)! + 1);
    if (less.get(k) !== a) {
      moved++;
      if (a === removed) movedFromRemoved++;
    }
  }
  const s = loadStats([...counts.values()]);
  return {
    dynos: dynoCount, keys: keyCount, ...s,
    moved_fraction: moved / keyCount,
    moved_from_removed: moved === 0 ? 1 : movedFromRemoved / moved,
    ideal_moved_fraction: 1 / dynoCount,
  };
}
