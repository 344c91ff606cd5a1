/**
 * Per-app metrics in Prometheus text (`GET /metrics/apps`, admin): the last
 * complete minute of every app that had one, as gauges. Labels are the app,
 * the status class (5), the Heroku code (a fixed short list) and the quantile
 * (3), and at most MAX_APPS apps are listed, so the series count stays bounded
 * whatever the traffic (no per-dyno or per-path labels).
 */
import { Histogram } from '../../lib/histogram.ts';
import type { AppMinute } from '../../cluster/records.ts';

export const MAX_APPS = 2000;

export function renderApps(minutes: AppMinute[]): string {
  const out: string[] = [];
  const metric = (name: string, help: string, lines: string[]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...lines);
  };
  const l = (app: string, extra = '') => `{app="${app}"${extra}}`;
  metric('dynomesh_app_requests_per_minute', 'Requests the routers answered for the app in the last complete minute, by status class.',
    minutes.flatMap((m) => m.status.map((n, i) => `dynomesh_app_requests_per_minute${l(m.app, `,class="${i + 1}xx"`)} ${n}`)));
  metric('dynomesh_app_router_errors_per_minute', 'Router errors (Heroku H codes) for the app in the last complete minute.',
    minutes.flatMap((m) => Object.entries(m.errors).map(([c, n]) => `dynomesh_app_router_errors_per_minute${l(m.app, `,code="${c}"`)} ${n}`)));
  metric('dynomesh_app_response_time_seconds', 'Response time quantiles over the last complete minute.',
    minutes.flatMap((m) => {
      const h = Histogram.fromWire(m.hist);
      if (h.count === 0) return [];
      return [0.5, 0.95, 0.99].map((q) => `dynomesh_app_response_time_seconds${l(m.app, `,quantile="${q}"`)} ${(h.quantile(q)! / 1000).toFixed(6)}`);
    }));
  const dynoMax = (m: AppMinute, i: number) => Math.max(-1, ...Object.values(m.dynos).map((d) => d[i]!));
  metric('dynomesh_app_memory_rss_bytes', 'Largest resident memory of one of the app\'s dynos in the last complete minute.',
    minutes.filter((m) => Object.keys(m.dynos).length).map((m) => `dynomesh_app_memory_rss_bytes${l(m.app)} ${Math.round(dynoMax(m, 0) * 1048576)}`));
  metric('dynomesh_app_memory_quota_bytes', 'Memory quota of the app\'s dynos (largest size).',
    minutes.filter((m) => Object.keys(m.dynos).length).map((m) => `dynomesh_app_memory_quota_bytes${l(m.app)} ${Math.round(dynoMax(m, 2) * 1048576)}`));
  metric('dynomesh_app_cpu_percent', 'Highest CPU use of one of the app\'s dynos in the last complete minute (100 = one core).',
    minutes.filter((m) => dynoMax(m, 3) >= 0).map((m) => `dynomesh_app_cpu_percent${l(m.app)} ${dynoMax(m, 3)}`));
  metric('dynomesh_app_dynos_reporting', 'Dynos of the app that reported memory in the last complete minute.',
    minutes.filter((m) => Object.keys(m.dynos).length).map((m) => `dynomesh_app_dynos_reporting${l(m.app)} ${Object.keys(m.dynos).length}`));
  return out.join('\n') + '\n';
}
