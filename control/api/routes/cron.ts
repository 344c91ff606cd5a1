/** /apps/:app/cron: the app's scheduled jobs (app.json `cron` of the current release) with their last and next runs. */
import type { ControlContext } from '../../context.ts';
import { appNotFound } from '../../errors.ts';
import { jobId } from '../../cron/runner.ts';
import { nextRun, parseSchedule } from '../../cron/schedule.ts';
import type { ApiRouter } from '../router.ts';

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

export function cronRoutes(r: ApiRouter, ctx: ControlContext): void {
  r.get('/apps/:app/cron', async (c) => {
    const app = c.params.app!;
    const k = ctx.cluster.keys;
    const [a, cur, state] = await Promise.all([ctx.cluster.get(k.app(app)), ctx.cluster.get(k.current(app)), ctx.cluster.get(k.cron(app))]);
    if (!a) throw appNotFound(app);
    const rel = cur ? (await ctx.cluster.get(k.release(app, cur.value.version)))?.value : undefined;
    const now = Date.now();
    return {
      body: (rel?.slug ? rel.cron ?? [] : []).map((e) => {
        const id = jobId(e);
        const job = state?.value.jobs[id];
        return {
          id, command: e.command, schedule: e.schedule, release: rel!.version,
          last_run_at: iso(job?.lastRunAt), last_dyno: job?.lastDyno ?? null,
          last_exit_status: job?.lastExit ?? null, running: job?.lastDyno !== undefined && job.lastExit === undefined,
          next_run_at: iso(nextRun(parseSchedule(e.schedule), Math.max(now, job?.lastTick ?? 0))),
          skipped_ticks: job?.skipped ?? 0,
        };
      }),
    };
  });
}
