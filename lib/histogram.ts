/**
 * A small log-linear histogram of durations, mergeable by adding counts, so
 * routers can each count an app's response times for a minute and the control
 * can add their counts up and still answer p50/p95/p99 (averages of percentiles
 * would not be a percentile).
 *
 * Values are kept in microseconds. Below 16 µs each value has its own bucket;
 * above, each power of two is cut into 16 equal buckets, so a bucket is at most
 * 1/16 of its lower bound wide and a quantile (interpolated within its bucket)
 * is within a few percent of the true value. At most ~470 buckets exist (up to ~35 min);
 * only the ones used are stored.
 *
 * Wire form (msgpack/JSON friendly): `[index, count, index, count, ...]`, indexes ascending.
 */

const SUB_BITS = 4;
const SUB = 1 << SUB_BITS; // 16
/** Longest value kept: larger ones count in the last bucket (2^31 µs, ~35 min). */
const MAX_US = 2 ** 31 - 1;

/** The bucket of a value in microseconds. */
export function bucketOf(us: number): number {
  const u = us <= 0 ? 0 : us >= MAX_US ? MAX_US : Math.floor(us);
  if (u < SUB) return u;
  const e = 31 - Math.clz32(u); // floor(log2 u), >= SUB_BITS
  const shift = e - SUB_BITS;
  return SUB + shift * SUB + ((u >>> shift) & (SUB - 1));
}

/** [lower, upper) of a bucket, in microseconds. */
export function bucketRange(i: number): [number, number] {
  if (i < SUB) return [i, i + 1];
  const shift = Math.floor((i - SUB) / SUB);
  const m = (i - SUB) % SUB;
  return [(SUB + m) * 2 ** shift, (SUB + m + 1) * 2 ** shift];
}

export class Histogram {
  private readonly counts = new Map<number, number>();
  count = 0;

  /** Counts one duration given in milliseconds. */
  record(ms: number): void {
    const b = bucketOf(ms * 1000);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.count++;
  }

  /** Adds another histogram's counts (given in wire form). Malformed pairs are skipped. */
  mergeWire(w: readonly number[]): void {
    for (let i = 0; i + 1 < w.length; i += 2) {
      const b = w[i]!;
      const n = w[i + 1]!;
      if (!Number.isInteger(b) || b < 0 || b > 600 || !Number.isInteger(n) || n <= 0) continue;
      this.counts.set(b, (this.counts.get(b) ?? 0) + n);
      this.count += n;
    }
  }

  merge(h: Histogram): void {
    this.mergeWire(h.toWire());
  }

  toWire(): number[] {
    const out: number[] = [];
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) out.push(b, this.counts.get(b)!);
    return out;
  }

  static fromWire(w: readonly number[]): Histogram {
    const h = new Histogram();
    h.mergeWire(w);
    return h;
  }

  /**
   * The q-quantile (0..1) in milliseconds; null when empty. Within its bucket the value
   * is interpolated by rank (values taken as spread evenly over the bucket), which
   * halves the error of reporting the bucket's middle on smooth distributions.
   */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.min(this.count, Math.max(1, Math.ceil(q * this.count)));
    let seen = 0;
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      const n = this.counts.get(b)!;
      if (seen + n >= rank) {
        const [lo, hi] = bucketRange(b);
        return (lo + ((hi - lo) * (rank - seen - 0.5)) / n) / 1000;
      }
      seen += n;
    }
    return null;
  }
}
