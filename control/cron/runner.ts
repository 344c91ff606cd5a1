/**
 * Scheduled jobs (app.json `cron`, Dokku's shape) run by the elected leader only:
 * at each due tick a detached one-off `scheduler.N` runs the command on the current
 * release, so its output is in the app's log stream.
 *
 * Exactly once per tick, across leader changes: the placement of the run and the
 * job's `lastTick` move in ONE transaction:
 *
 *   keys:    cron/{app}, dynos/{node}/{app}/scheduler.N, status/{app}/scheduler.N (compare), nodes/{node} (compare)
 *   compare: the leader's fence; cron/{app} mod revision is what we read; the placement and
 *            its status do not exist; the node is alive
 *   result:  the run is placed and recorded, or nothing happened (a deposed leader's
 *            write fails; a lost race is read again on the next pass)
 *
 * A new leader reads `lastTick` and runs the latest tick still due, so a tick that fell
 * while no one led runs once, late; ticks older than the catch-up window are passed
 * over (counted in `skipped`) instead of running in a burst. Exit statuses come from
 * the dynos' status keys (watched) and are kept for `dynomesh cron`.
 */
import { createHash, randomInt } from 'node:crypto';
import type { Watcher } from 'etcd3';
import type { Cluster, Compare, EntryOf, Op, RawKv } from '../../cluster/client.ts';
import type { CronEntry, CronJobState, CronState, DynoStatus, Placement } from '../../cluster/records.ts';
import { retryTxn } from '../../cluster/retry-txn.ts';
import { dropWatcher } from '../../cluster/watch.ts';
import type { Logger } from '../../lib/log.ts';
import { nodeForOneOff, sizeMb } from '../scheduler/plan.ts';
import { readWorld } from '../scheduler/snapshot.ts';
import { nextRun, parseSchedule } from './schedule.ts';

export interface CronOptions {
  /** How often due ticks are looked for. */
  intervalMs?: number;
  /** A tick older than this when first seen due is passed over. */
  catchUpMs?: number;
  now?: () => number;
}

export const jobId = (e: CronEntry): string => createHash('sha256').update(`${e.schedule}\n${e.command}`).digest('hex').slice(0, 12);
const SCHEDULER_DYNO = /^scheduler\.\d+$/;

/** The latest tick in (after, now], or undefined. */
export function dueTick(schedule: string, after: number, now: number): number | undefined {
  const s = parseSchedule(schedule);
  let t = nextRun(s, after);
  if (t === undefined || t > now) return undefined;
  for (let n = nextRun(s, t); n !== undefined && n <= now; n = nextRun(s, t)) t = n;
  return t;
}

export class CronRunner {
  private timer: NodeJS.Timeout | undefined;
  private watcher: Watcher | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly intervalMs: number;
  private readonly catchUpMs: number;
  private readonly now: () => number;

  constructor(
    private readonly cluster: Cluster,
    /** The leader's fence (Election.leaderCompare()). */
    private readonly fence: () => Compare,
    private readonly log: Logger,
    opts: CronOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 1000;
    this.catchUpMs = opts.catchUpMs ?? 10 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  async start(): Promise<void> {
    const w = await this.cluster.etcd.watch().prefix(this.cluster.keys.statuses()).create();
    if (this.stopped) return void (await w.cancel().catch(() => undefined));
    this.watcher = w;
    w.on('put', (kv: RawKv) => {
      const ref = this.cluster.keys.parse(kv.key.toString());
      if (ref?.kind !== 'status' || !SCHEDULER_DYNO.test(ref.dyno)) return;
      let st: DynoStatus;
      try {
        st = this.cluster.entry(kv).value as DynoStatus;
      } catch {
        return;
      }
      if (st.state === 'down' || st.state === 'crashed') void this.recordExit(st).catch((err: Error) => this.log.warn({ app: st.app, dyno: st.dyno, err: err.message }, 'cron-exit-record-failed'));
    });
    w.on('error', (err: Error) => this.log.warn({ err: err.message }, 'cron-watch-error'));
    this.timer = setInterval(() => this.kick(), this.intervalMs);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    const w = this.watcher;
    this.watcher = undefined;
    if (w) await dropWatcher(w);
    await this.running?.catch(() => undefined);
  }

  private kick(): void {
    if (this.running || this.stopped) return;
    this.running = this.pass()
      .catch((err: Error) => this.log.warn({ err: err.message }, 'cron-pass-failed'))
      .finally(() => (this.running = undefined));
  }

  /** One look at every app with cron jobs: run what is due. */
  async pass(): Promise<void> {
    const k = this.cluster.keys;
    const currents = await this.cluster.list(k.currents());
    for (const e of currents.entries as EntryOf<'current'>[]) {
      if (this.stopped) return;
      if (e.kind !== 'current') continue;
      const rel = (await this.cluster.get(k.release(e.ref.app, e.value.version)))?.value;
      const state = await this.cluster.get(k.cron(e.ref.app));
      if (!rel?.cron?.length && !state) continue;
      await this.app(e.ref.app, rel?.slug ? rel.cron ?? [] : [], state);
    }
  }

  /**
   * One app's due jobs, started in one transaction:
   *
   *   keys:    cron/{app}, dynos/{node}/{app}/scheduler.{NNNN} for each job that runs
   *   compare: the leader's fence, cron/{app}'s mod revision is what we read, each placement
   *            and its status key do not exist, each chosen node is registered
   *   result:  the jobs' new state; a lost compare writes nothing (the next pass reads again)
   */
  private async app(app: string, entries: CronEntry[], state: EntryOf<'cron'> | undefined): Promise<void> {
    const k = this.cluster.keys;
    const now = this.now();
    const jobs: Record<string, CronJobState> = {};
    const due: { id: string; tick: number }[] = [];
    for (const entry of entries) {
      const id = jobId(entry);
      const prev = state?.value.jobs[id];
      const job: CronJobState = prev ? { ...prev } : { command: entry.command, schedule: entry.schedule, since: now };
      jobs[id] = job;
      const base = Math.max(job.lastTick ?? job.since, now - this.catchUpMs);
      const tick = dueTick(entry.schedule, base, now);
      if (tick === undefined) continue;
      // Only the latest due tick runs: the ones between it and the last run are passed over.
      const missed = job.lastTick !== undefined ? countTicks(entry.schedule, job.lastTick, tick) : 0;
      if (missed) job.skipped = (job.skipped ?? 0) + missed;
      due.push({ id, tick });
    }
    const changed = !state || Object.keys(jobs).length !== Object.keys(state.value.jobs).length || Object.keys(jobs).some((id) => !state.value.jobs[id]);
    if (!due.length && !changed) return;

    const compares: Compare[] = [this.fence(), { key: k.cron(app), target: 'mod', op: '==', value: state?.modRevision ?? 0 }];
    const ops: Op[] = [];
    const placed: { id: string; dyno: string; node: string }[] = [];
    if (due.length) {
      const world = await readWorld(this.cluster);
      const release = world.apps.find((a) => a.name === app)?.release;
      for (const { id, tick } of due) {
        const job = jobs[id]!;
        job.lastTick = tick;
        const mb = sizeMb('standard-1x');
        const node = release ? nodeForOneOff(world, app, mb) : undefined;
        if (!node || !release) {
          job.skipped = (job.skipped ?? 0) + 1;
          this.log.warn({ app, job: id, tick: new Date(tick).toISOString() }, 'cron-tick-skipped-no-room');
          continue;
        }
        const dyno = `scheduler.${randomInt(1000, 10000)}`;
        const placement: Placement = {
          app, dyno, type: 'scheduler', release: release.version, size: 'standard-1x', memoryMb: mb, restartNonce: 0, createdAt: now,
          command: job.command, attach: false,
        };
        const key = k.placement(node, app, dyno);
        compares.push(
          { key, target: 'create', op: '==', value: 0 },
          { key: k.status(node, app, dyno), target: 'create', op: '==', value: 0 },
          { key: k.node(node), target: 'create', op: '!=', value: 0 },
        );
        ops.push({ put: key, value: this.cluster.value(key, placement) });
        world.placements.push({ node, placement, ready: false }); // the next job of this pass sees the memory it takes
        Object.assign(job, { lastRunAt: now, lastDyno: dyno });
        delete job.lastExit;
        placed.push({ id, dyno, node });
      }
    }
    const next: CronState = { app, jobs };
    ops.push({ put: k.cron(app), value: this.cluster.value(k.cron(app), next) });
    const r = await this.cluster.txn(compares, ops);
    if (!r.succeeded) return; // deposed (the fence) or raced: the next pass reads again
    for (const p of placed) this.log.info({ app, job: p.id, dyno: p.dyno, node: p.node, command: jobs[p.id]!.command }, 'cron-job-started');
  }

  /**
   * A `scheduler.N` dyno ended: its exit status goes on the job that ran it.
   *
   *   keys:    cron/{app}
   *   compare: the leader's fence, cron/{app}'s mod revision is what we read
   *   result:  the job's lastExit is set (once); nothing when this runner stopped
   */
  private async recordExit(st: DynoStatus): Promise<void> {
    const k = this.cluster.keys;
    await retryTxn(this.cluster, `cron state of ${st.app} kept changing`, async () => {
      if (this.stopped) return { done: undefined };
      const state = await this.cluster.get(k.cron(st.app));
      const id = state && Object.keys(state.value.jobs).find((j) => state.value.jobs[j]!.lastDyno === st.dyno);
      if (!state || !id || state.value.jobs[id]!.lastExit !== undefined) return { done: undefined };
      const next: CronState = { ...state.value, jobs: { ...state.value.jobs, [id]: { ...state.value.jobs[id]!, lastExit: st.exitCode } } };
      return {
        compares: [this.fence(), { key: k.cron(st.app), target: 'mod', op: '==', value: state.modRevision }],
        ops: [{ put: k.cron(st.app), value: this.cluster.value(k.cron(st.app), next) }],
        result: undefined,
      };
    });
  }
}

function countTicks(schedule: string, after: number, until: number): number {
  const s = parseSchedule(schedule);
  let n = 0;
  for (let t = nextRun(s, after); t !== undefined && t < until && n < 100_000; t = nextRun(s, t)) n++;
  return n;
}
