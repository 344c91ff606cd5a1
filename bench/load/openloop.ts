/**
 * The open-loop fixed-rate generator: splits the rate and connections over piscina worker
 * threads, merges their HdrHistograms and reports latency from intended send times.
 */
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import { Piscina } from 'piscina';
import * as hdr from 'hdr-histogram-js';
import type { OpenLoopPart, OpenLoopTask } from './openloop-worker.ts';
import type { LoadResult } from './result.ts';
import { histogramSummary } from '../stats.ts';

const workerFile = join(dirname(fileURLToPath(import.meta.url)), 'openloop-worker.ts');

export interface OpenLoopOptions {
  port: number;
  request: Buffer;
  rate: number;
  connections: number;
  durationMs: number;
  warmupMs: number;
  threads: number;
}

export class OpenLoopGenerator {
  private readonly pool: Piscina;
  constructor(readonly threads: number) {
    this.pool = new Piscina({ filename: workerFile, minThreads: threads, maxThreads: threads, idleTimeout: 60_000,
      execArgv: [...process.execArgv] });
  }

  async run(o: OpenLoopOptions): Promise<LoadResult> {
    const n = Math.max(1, Math.min(this.threads, o.connections));
    const tasks: OpenLoopTask[] = [];
    for (let i = 0; i < n; i++) {
      tasks.push({
        port: o.port, host: '127.0.0.1', request: o.request, rate: o.rate / n,
        connections: Math.floor(o.connections / n) + (i < o.connections % n ? 1 : 0),
        warmupMs: o.warmupMs, durationMs: o.durationMs, graceMs: 2000,
      });
    }
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    const parts = (await Promise.all(tasks.map((t) => this.pool.run(t)))) as OpenLoopPart[];
    const cpu = process.cpuUsage(cpu0);
    const wall = performance.now() - w0;
    return mergeOpenLoop(parts, o.rate, ((cpu.user + cpu.system) / 1000 / wall) * 100);
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

/** Merge the per-thread parts into one result (exported for tests). */
export function mergeOpenLoop(parts: OpenLoopPart[], rate: number, cpuPct: number): LoadResult {
  const corrected = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  const uncorrected = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  let completed = 0, inWindow = 0, errors = 0, non2xx = 0, timeouts = 0, bytes = 0, maxQueued = 0;
  for (const p of parts) {
    const c = hdr.decodeFromCompressedBase64(p.corrected);
    const u = hdr.decodeFromCompressedBase64(p.uncorrected);
    corrected.add(c);
    uncorrected.add(u);
    c.destroy();
    u.destroy();
    completed += p.completed; inWindow += p.inWindow; errors += p.errors; non2xx += p.non2xx; timeouts += p.timeouts; bytes += p.bytes;
    maxQueued = Math.max(maxQueued, p.maxQueued);
  }
  const seconds = (parts[0]?.measuredMs ?? 1) / 1000;
  const s = histogramSummary(corrected);
  const u = histogramSummary(uncorrected);
  corrected.destroy();
  uncorrected.destroy();
  return {
    mode: 'open', requests: completed, duration_s: seconds, rps: inWindow / seconds, bytes_per_s: bytes / seconds,
    p50_ms: s.p50_ms, p90_ms: s.p90_ms, p99_ms: s.p99_ms, p999_ms: s.p999_ms, max_ms: s.max_ms,
    errors, non2xx, timeouts, loadgen_cpu_pct: Math.round(cpuPct * 10) / 10, target_rate: rate,
    uncorrected_p99_ms: u.p99_ms, max_queued: maxQueued,
  };
}
