/**
 * Per-dyno readings for the app's metrics (issue 19): every `everyMs` the agent
 * reads each live run's memory (RSS and swap, against its quota) and CPU and
 * ships one sample per dyno on the log transport (logplex/metrics.ts), with the
 * R14 events seen since the last sample. Runs are found through the run store
 * (one record per live process, with its cgroup or process group), so nothing
 * here reaches into a Run.
 *
 *   memory  cgroup: memory.stat (v1 total_rss/total_swap, v2 anon + memory.swap.current);
 *           no cgroup: the RSS of the dyno's process group (/proc)
 *   CPU     v2: cpu.stat usage_usec; else utime+stime of the dyno's processes (/proc),
 *           as a share of one core over the interval (100 = one core busy); -1 on the first reading
 */
import { readFile } from 'node:fs/promises';
import { minuteOf, type DynoSample } from '../logplex/metrics.ts';
import type { Logger } from '../lib/log.ts';
import { groupMembers, groupRss } from './procfs.ts';
import type { LogRecord, LogSink } from './output.ts';
import type { RunRecord, RunStore } from './run-store.ts';

const MB = 1024 * 1024;
/** Linux's USER_HZ: /proc times are in these ticks. */
const TICKS_PER_S = 100;

const field = (text: string, name: string): number => {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
};
const read = (p: string) => readFile(p, 'utf8');

async function memoryOf(rec: RunRecord): Promise<{ rss: number; swap: number }> {
  const cg = rec.cgroup;
  if (cg) {
    const stat = await read(`${cg.path}/memory.stat`);
    if (cg.kind === 'v1') return { rss: field(stat, 'total_rss'), swap: field(stat, 'total_swap') };
    const swap = Number(await read(`${cg.path}/memory.swap.current`).catch(() => '0')) || 0;
    return { rss: field(stat, 'anon'), swap };
  }
  return { rss: await groupRss(rec.pid), swap: 0 };
}

/** CPU time used so far, in microseconds. */
async function cpuMicros(rec: RunRecord): Promise<number> {
  const cg = rec.cgroup;
  if (cg?.kind === 'v2') {
    const stat = await read(`${cg.path}/cpu.stat`).catch(() => '');
    if (stat) return field(stat, 'usage_usec');
  }
  const pids = cg ? (await read(`${cg.path}/cgroup.procs`).catch(() => '')).split('\n').filter(Boolean).map(Number) : (await groupMembers(rec.pid)).map((s) => s.pid);
  let ticks = 0;
  for (const pid of pids) {
    const text = await read(`/proc/${pid}/stat`).catch(() => '');
    if (!text) continue;
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]); // utime, stime
  }
  return (ticks / TICKS_PER_S) * 1e6;
}

export class DynoSampler implements LogSink {
  private readonly r14 = new Map<string, number>();
  private readonly cpuPrev = new Map<string, { at: number; us: number }>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly store: RunStore, private readonly out: LogSink, private readonly log: Logger, private readonly everyMs = 10_000) {}

  /** Sees the agent's dyno lines: counts R14 events (memory.ts writes `Error R14 ...` once per event). */
  write(rec: LogRecord): void {
    if (rec.source === 'heroku' && rec.line.startsWith('Error R14 ')) {
      const k = `${rec.app}/${rec.dyno}`;
      this.r14.set(k, (this.r14.get(k) ?? 0) + 1);
    }
  }

  start(): void {
    this.timer = setInterval(() => void this.sample(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async sample(now = Date.now()): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const { records } = await this.store.list();
      const seen = new Set<string>();
      // One process per dyno name: the newest (a replacement runs beside the old one for a moment).
      const byDyno = new Map<string, RunRecord>();
      for (const r of records) {
        const k = `${r.app}/${r.dyno}`;
        if (!byDyno.has(k) || byDyno.get(k)!.startedAt < r.startedAt) byDyno.set(k, r);
      }
      for (const [k, rec] of byDyno) {
        seen.add(rec.run);
        try {
          const mem = await memoryOf(rec);
          const us = await cpuMicros(rec);
          const prev = this.cpuPrev.get(rec.run);
          this.cpuPrev.set(rec.run, { at: now, us });
          const cpu = prev && now > prev.at ? Math.min(100_000, Math.max(0, ((us - prev.us) / ((now - prev.at) * 1000)) * 100)) : -1;
          const s: DynoSample = {
            k: 'd', m: minuteOf(now), d: rec.dyno, rss: round1(mem.rss / MB), swap: round1(mem.swap / MB), quota: rec.memoryMb,
            cpu: cpu < 0 ? -1 : round1(cpu), r14: this.r14.get(k) ?? 0,
          };
          this.r14.delete(k);
          this.out.write({ app: rec.app, dyno: 'metrics', source: 'heroku', ts: now, line: JSON.stringify(s) });
        } catch (err) {
          this.log.debug({ app: rec.app, dyno: rec.dyno, err: (err as Error).message }, 'dyno-sample-failed');
        }
      }
      for (const run of this.cpuPrev.keys()) if (!seen.has(run)) this.cpuPrev.delete(run);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'dyno-samples-failed');
    } finally {
      this.busy = false;
    }
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
