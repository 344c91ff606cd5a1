/** `cron`: the app's scheduled jobs (app.json `cron`), with their last run, last exit status and next run. */
import type { Command } from 'commander';
import type { AppFlags } from '../app.ts';
import { ago, header, info, json, print, table, when } from '../output.ts';
import { api, appOf, withApp, withJson, type JsonFlags } from '../shared.ts';

interface CronJson {
  id: string;
  command: string;
  schedule: string;
  last_run_at: string | null;
  last_dyno: string | null;
  last_exit_status: number | null;
  running: boolean;
  next_run_at: string | null;
  skipped_ticks: number;
}

function lastRun(j: CronJson): string {
  if (!j.last_run_at) return 'never';
  const status = j.running ? 'running' : j.last_exit_status === null ? 'exit unknown' : `exit ${j.last_exit_status}`;
  return `${when(j.last_run_at)} (${ago(j.last_run_at)}) ${j.last_dyno ?? ''} ${status}`.replace(/  +/g, ' ');
}

export function registerCron(program: Command): void {
  withJson(withApp(program.command('cron').alias('cron:list').description('list the scheduled jobs of an app (app.json "cron"; run as scheduler.N dynos, times in UTC)')))
    .action(async (flags: AppFlags & JsonFlags) => {
      const app = appOf(flags);
      const jobs = await api().get<CronJson[]>(`/apps/${app}/cron`);
      if (flags.json) return print(json(jobs));
      if (!jobs.length) return info(`${app} has no scheduled jobs; add them to app.json as "cron": [{"command": "...", "schedule": "*/5 * * * *"}] and push`);
      print(header(`${app} Scheduled Jobs (UTC)`));
      print(table(jobs, [
        { header: 'Schedule', get: (j) => j.schedule },
        { header: 'Command', get: (j) => j.command },
        { header: 'Last run', get: (j) => lastRun(j) },
        { header: 'Next run', get: (j) => (j.next_run_at ? when(j.next_run_at) : 'never') },
      ]));
    });
}
