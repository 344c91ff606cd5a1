/**
 * Crash restart policy, as Heroku's dyno manager: the first crash restarts at
 * once, later ones wait a growing cool-off (20, 40, 60, 180, 320 min, then 320
 * min again), and a run that stayed up long enough resets the count.
 */
export const HEROKU_COOL_OFFS_MS = [20, 40, 60, 180, 320].map((m) => m * 60_000);

export class CrashPolicy {
  /** Consecutive crashes since the last good run. */
  crashes = 0;

  constructor(
    private readonly coolOffsMs: number[] = HEROKU_COOL_OFFS_MS,
    /** How long a dyno must stay up for its crash count to reset. */
    private readonly goodRunMs = 10 * 60_000,
  ) {
    if (coolOffsMs.length === 0) throw new Error('crash cool-offs must list at least one duration');
  }

  /** Records a crash of a run that started at `startedAt`; returns ms to wait before restarting. */
  crashed(startedAt: number, now = Date.now()): number {
    if (now - startedAt >= this.goodRunMs) this.crashes = 0;
    this.crashes++;
    if (this.crashes === 1) return 0;
    return this.coolOffsMs[Math.min(this.crashes - 2, this.coolOffsMs.length - 1)]!;
  }

  /** A release or restart (new placement) starts afresh, as Heroku resets on deploy and `ps:restart`. */
  reset(): void {
    this.crashes = 0;
  }
}
