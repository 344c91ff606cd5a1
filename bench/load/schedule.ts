/**
 * Open-loop pacing with coordinated-omission correction (the wrk2 idea): request i is
 * *intended* at t0 + i/rate whatever happened before it. If every connection is busy the
 * request waits in a queue, and its latency is still counted from its intended time, so a
 * stalled server is charged for every request it delayed, not just the one it held.
 * Pure logic with an injected clock, so tests can drive it.
 */
export interface Slot {
  /** Send one request now on this connection; `intended` is its intended start (ms). */
  send(intended: number): void;
}

export class OpenLoopSchedule {
  private next = 0; // index of the next request to issue
  private readonly queue: number[] = []; // intended times waiting for a free connection
  private qHead = 0;
  private readonly free: Slot[] = [];
  readonly intervalMs: number;
  /** Most requests ever waiting at once (a sign the target fell behind the rate). */
  maxQueued = 0;
  issued = 0;

  constructor(readonly t0: number, rate: number, readonly endAt: number) {
    if (!(rate > 0)) throw new Error('rate must be positive');
    this.intervalMs = 1000 / rate;
  }

  /** Intended time of the next request not yet due, or Infinity when the run is over. */
  get nextDue(): number {
    const t = this.t0 + this.next * this.intervalMs;
    return t < this.endAt ? t : Infinity;
  }

  get queued(): number {
    return this.queue.length - this.qHead;
  }

  /** A connection became idle: give it the oldest queued request, else park it. */
  release(slot: Slot): void {
    if (this.qHead < this.queue.length) {
      const intended = this.queue[this.qHead++]!;
      if (this.qHead > 4096 && this.qHead * 2 > this.queue.length) { this.queue.splice(0, this.qHead); this.qHead = 0; }
      this.issued++;
      slot.send(intended);
    } else this.free.push(slot);
  }

  /** Issue every request whose intended time is <= now; returns how many became due. */
  pump(now: number): number {
    let due = 0;
    for (let t = this.nextDue; t <= now; t = this.nextDue) {
      this.next++;
      due++;
      const slot = this.free.pop();
      if (slot) { this.issued++; slot.send(t); }
      else {
        this.queue.push(t);
        if (this.queued > this.maxQueued) this.maxQueued = this.queued;
      }
    }
    return due;
  }

  /** Requests that became due but were never sent (still queued at the end). */
  drainQueue(): number[] {
    const rest = this.queue.slice(this.qHead);
    this.queue.length = 0;
    this.qHead = 0;
    return rest;
  }
}

/** Latency in microseconds charged to a request: from its intended start, not its actual send. */
export function correctedLatencyUs(intendedMs: number, doneMs: number): number {
  return Math.max(1, Math.round((doneMs - intendedMs) * 1000));
}
