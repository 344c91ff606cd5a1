/**
 * `metrics`: an app's per-minute request counts, errors by code, response times,
 * memory and CPU (`GET /apps/:app/metrics`); `usage`: dyno-hours of a month per
 * process type and size, for an app or (admins, no -a) every app.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { parseDuration } from '../../lib/options.ts';
import type { AppFlags } from '../app.ts';
import { header, info, json, print, table } from '../output.ts';
import { api, appOf, withApp, withJson, type JsonFlags } from '../shared.ts';

interface Point {
  time: string;
  requests: number;
  status: Record<string, number>;
  errors: Record<string, number>;
  responseTimeMs: { p50: number; p95: number; p99: number } | null;
  memory: { rssMb: number; swapMb: number; quotaMb: number } | null;
  cpuPct: number | null;
}

interface UsageLine {
  type: string;
  size: string;
  seconds: number;
  dynoHours: number;
}

interface AppUsage {
  app: string;
  month: string;
  lines: UsageLine[];
  totalSeconds: number;
}

/** `1h`, `90m` (ago) or an ISO time, as the API's `since`. */
function sinceArg(v: string): string {
  if (/^\d{4}-\d\d-\d\d/.test(v)) return v;
  return String(-Math.round(parseDuration(v.endsWith('d') ? `${Number(v.slice(0, -1)) * 24}h` : v) / 1000));
}

function stepArg(v: string): string {
  const s = Math.round(parseDuration(/^\d+$/.test(v) ? `${v}s` : v) / 1000);
  if (s < 60 || s % 60 !== 0) throw new InvalidArgumentError(`"${v}" is not a whole number of minutes (examples: 1m, 5m, 1h).`);
  return String(s);
}

const ms = (x: number | undefined) => (x === undefined ? '-' : x < 10 ? x.toFixed(1) : String(Math.round(x)));
const hhmm = (iso: string) => iso.slice(11, 16);

export function registerMetrics(program: Command): void {
  withJson(withApp(program.command('metrics').description('per-minute metrics of an app: requests, errors by code, response time, memory, CPU (times in UTC, each row the step ending then)')))
    .option('--since <when>', 'how far back: 1h, 30m, 1d (at most the 26 h kept) or an ISO time', sinceArg, '-3600')
    .option('--step <duration>', 'width of a row: 1m, 5m, 1h', stepArg, '60')
    .action(async (flags: AppFlags & JsonFlags & { since: string; step: string }) => {
      const app = appOf(flags);
      const q = new URLSearchParams({ since: flags.since, step: flags.step });
      const body = await api().get<{ points: Point[]; since: string; until: string }>(`/apps/${app}/metrics?${q}`);
      if (flags.json) return print(json(body));
      const rows = body.points.filter((p) => p.requests > 0 || p.memory);
      if (!rows.length) return info(`no metrics for ${app} between ${body.since} and ${body.until}; they appear within about 20 s of traffic or a running dyno`);
      print(header(`${app} metrics (UTC)`));
      print(table(rows, [
        { header: 'Until', get: (p) => hhmm(p.time) },
        { header: 'Requests', get: (p) => String(p.requests) },
        { header: '2xx/3xx/4xx/5xx', get: (p) => `${p.status['2xx']}/${p.status['3xx']}/${p.status['4xx']}/${p.status['5xx']}` },
        { header: 'Errors', get: (p) => Object.entries(p.errors).map(([k, n]) => `${k}=${n}`).join(' ') || '-' },
        { header: 'p50/p95/p99 ms', get: (p) => (p.responseTimeMs ? `${ms(p.responseTimeMs.p50)}/${ms(p.responseTimeMs.p95)}/${ms(p.responseTimeMs.p99)}` : '-') },
        { header: 'Memory MB', get: (p) => (p.memory ? `${Math.round(p.memory.rssMb + p.memory.swapMb)}/${p.memory.quotaMb}` : '-') },
        { header: 'CPU %', get: (p) => (p.cpuPct === null ? '-' : String(p.cpuPct)) },
      ]));
    });

  withJson(program.command('usage').description('dyno-hours of a month per process type and size: of an app (-a), or of every app (admins)'))
    .addOption(program.createOption('-a, --app <app>', 'one app (default: every app, admins only)'))
    .option('--month <YYYY-MM>', 'calendar month, UTC (default: this one)')
    .action(async (flags: JsonFlags & { app?: string; month?: string }) => {
      const q = flags.month ? `?month=${encodeURIComponent(flags.month)}` : '';
      const reports = flags.app ? [await api().get<AppUsage>(`/apps/${flags.app}/usage${q}`)] : (await api().get<{ apps: AppUsage[] }>(`/account/usage${q}`)).apps;
      if (flags.json) return print(json(flags.app ? reports[0] : reports));
      if (!reports.length || reports.every((r) => !r.lines.length)) return info('no dyno usage in that month');
      for (const r of reports) {
        print(header(`${r.app} usage ${r.month} (${(r.totalSeconds / 3600).toFixed(2)} dyno-hours)`));
        print(table(r.lines, [
          { header: 'Type', get: (l) => l.type },
          { header: 'Size', get: (l) => l.size },
          { header: 'Dyno-hours', get: (l) => l.dynoHours.toFixed(2) },
          { header: 'Seconds', get: (l) => l.seconds.toFixed(1) },
        ]));
      }
    });
}
