/**
 * Reconnect delays: doubling from `initialMs` up to `maxMs`, each drawn at random
 * from the upper half of its step ("equal jitter"), so a fleet that lost the same
 * peer (etcd, the log service, a drain) does not come back in step.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next try. */
  next(): number {
    const step = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    if (step < this.maxMs) this.attempt++;
    return Math.round(step / 2 + (this.random() * step) / 2);
  }

  /** After a success: the next failure starts from `initialMs` again. */
  reset(): void {
    this.attempt = 0;
  }
}
