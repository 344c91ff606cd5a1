/**
 * One ticker checks the deadlines of every exchange with an armed timer, instead of
 * a setTimeout per request (a Timeout object, a timer-list insert and a clear each).
 * Exchanges link themselves into an intrusive list, so arming and clearing allocate
 * nothing. A deadline fires up to one tick late: tick = 1/20 of the shortest timeout
 * armed so far, 5..250 ms.
 */

/** What the list holds: the exchange's own fields, so tracking allocates nothing. */
export interface Timed {
  /** Clock ms when it fires. */
  deadline: number;
  tPrev: Timed | null;
  tNext: Timed | null;
  tracked: boolean;
  onTimeout(): void;
}

/** Time and a repeating tick; tests pass their own. */
export interface Clock {
  now(): number;
  every(ms: number, fn: () => void): { stop(): void };
}

export const systemClock: Clock = {
  now: Date.now,
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref(); // a pending deadline never keeps the process alive
    return { stop: () => clearInterval(t) };
  },
};

export class Deadlines {
  private head: Timed | null = null;
  private ticker: { stop(): void } | null = null;
  private tickMs = 0;

  constructor(readonly clock: Clock = systemClock) {}

  /** Arms `t` to fire at now + ms (re-arming a tracked one only moves its deadline). */
  arm(t: Timed, ms: number): void {
    t.deadline = this.clock.now() + ms;
    if (t.tracked) return;
    t.tracked = true;
    t.tPrev = null;
    t.tNext = this.head;
    if (this.head !== null) this.head.tPrev = t;
    this.head = t;
    const want = Math.max(5, Math.min(250, Math.floor(ms / 20)));
    if (this.ticker === null || want < this.tickMs) {
      this.ticker?.stop();
      this.tickMs = want;
      this.ticker = this.clock.every(want, () => this.tick());
    }
  }

  clear(t: Timed): void {
    if (!t.tracked) return;
    t.tracked = false;
    if (t.tPrev !== null) t.tPrev.tNext = t.tNext;
    else if (this.head === t) this.head = t.tNext;
    if (t.tNext !== null) t.tNext.tPrev = t.tPrev;
    t.tPrev = t.tNext = null;
  }

  /** Fires every deadline that has passed (each is cleared before its onTimeout runs). */
  tick(): void {
    const now = this.clock.now();
    let t = this.head;
    while (t !== null) {
      const next = t.tNext;
      if (t.tracked && t.deadline <= now) {
        this.clear(t);
        t.onTimeout();
      }
      t = next;
    }
  }

  /** How many are armed (tests, metrics). */
  get size(): number {
    let n = 0;
    for (let t = this.head; t !== null; t = t.tNext) n++;
    return n;
  }
}
