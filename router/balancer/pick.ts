/**
 * Choosing a dyno: consistent hashing with bounded loads (Mirrokni, Thorup,
 * Zadimoghaddam 2016). The key's owner on the ring gets the request unless it
 * is quarantined, already tried for this request, or over its bound
 *
 *     inFlight + 1 > ceil(c * (totalInFlight + 1) / liveDynos)
 *
 * (the new request counted, so no dyno ever carries more than c times the
 * mean); then the next dyno clockwise on the ring is asked, and so on. The
 * same key therefore lands on the same dyno on every router until load or
 * health says otherwise.
 */
import type { Backend } from '../upstream/backend.ts';
import type { AppRoute } from '../table/route-table.ts';

/** Bit i set: backend slot i was already tried for this request (apps over 30 dynos fall back to an array). */
export type Tried = number | Uint8Array;

export const wasTried = (t: Tried, i: number): boolean => (typeof t === 'number' ? i < 30 && (t & (1 << i)) !== 0 : t[i] === 1);
export function markTried(t: Tried, i: number, n: number): Tried {
  if (typeof t === 'number' && n <= 30) return t | (1 << i);
  const a = typeof t === 'number' ? new Uint8Array(n) : t;
  if (typeof t === 'number') for (let j = 0; j < 30; j++) if (t & (1 << j)) a[j] = 1;
  a[i] = 1;
  return a;
}

/** Returns a backend slot, or -1 when every dyno was tried. Quarantined dynos are used only when nothing else is left. */
export function pick(route: AppRoute, key: string | null, tried: Tried, now: number): number {
  const bs = route.backends;
  const n = bs.length;
  if (n === 0) return -1;
  if (n === 1) return wasTried(tried, 0) ? -1 : 0;

  let total = 0;
  let live = 0;
  for (let i = 0; i < n; i++) {
    const b = bs[i]!;
    if (b.isQuarantined(now)) continue;
    live++;
    total += b.inFlight;
  }
  const bound = live === 0 ? Infinity : Math.ceil((route.balanceFactor * (total + 1)) / live);
  const ok = (b: Backend, i: number) => !wasTried(tried, i) && !b.isQuarantined(now) && b.inFlight + 1 <= bound;

  if (key === null) {
    // random affinity: a random start, then the ring order of backends
    const start = (Math.random() * n) | 0;
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      if (ok(bs[i]!, i)) return i;
    }
  } else {
    const first = route.ring!.primary(key);
    if (first >= 0 && ok(bs[first]!, first)) return first;
    let found = -1;
    route.ring!.walk(key, (i) => {
      if (ok(bs[i]!, i)) {
        found = i;
        return true;
      }
      return false;
    });
    if (found >= 0) return found;
  }
  // Everything live is tried or over its bound: fall back to any untried dyno, quarantined last.
  let fallback = -1;
  for (let i = 0; i < n; i++) {
    if (wasTried(tried, i)) continue;
    if (!bs[i]!.isQuarantined(now)) return i;
    if (fallback < 0) fallback = i;
  }
  return fallback;
}
