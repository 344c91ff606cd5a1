/**
 * Usage and metrics API (issue 19):
 *
 *   GET /apps/:app/metrics?since=&step=   per-minute points (control/metrics), oldest first
 *   GET /apps/:app/usage?month=2026-12    dyno-seconds per process type and size (default: this UTC month)
 *   GET /account/usage?month=2026-12      every app's usage (admin)
 *   GET /metrics/apps                     every app's last complete minute, Prometheus text (admin)
 */
import { isMonth } from '../../cluster/keys.ts';
import type { AppMinute } from '../../cluster/records.ts';
import { monthOf } from '../../cluster/usage.ts';
import type { ApiRouter } from '../api/router.ts';
import type { ControlContext } from '../context.ts';
import { appNotFound, invalid } from '../errors.ts';
import { toPoints } from '../metrics/minute.ts';
import { MAX_APPS, renderApps } from '../metrics/prometheus.ts';
import { parseWindow } from '../metrics/query.ts';
import type { MetricsStore } from '../metrics/store.ts';
import { accountUsage, appUsage } from './report.ts';

const iso = (s: number) => new Date(s * 1000).toISOString();

function monthParam(v: string | null): string {
  if (v === null || v === '') return monthOf(Date.now());
  if (!isMonth(v)) throw invalid('month must be YYYY-MM (e.g. 2026-12)');
  return v;
}

export function usageRoutes(r: ApiRouter, ctx: ControlContext, metrics: MetricsStore): void {
  const { cluster } = ctx;
  const appExists = async (app: string) => {
    if (!(await cluster.get(cluster.keys.app(app)))) throw appNotFound(app);
  };

  r.get('/apps/:app/metrics', async (c) => {
    const app = c.params.app!;
    await appExists(app);
    const w = parseWindow(c.url.searchParams.get('since'), c.url.searchParams.get('step'), Date.now(), metrics.retentionSeconds);
    const minutes = await metrics.minutes(app, w.since, w.until);
    return { body: { app, step: w.step, since: iso(w.since), until: iso(w.until), points: toPoints(app, minutes, w.since, w.step, w.count) } };
  });

  r.get('/apps/:app/usage', async (c) => {
    const app = c.params.app!;
    await appExists(app);
    return { body: await appUsage(cluster, app, monthParam(c.url.searchParams.get('month'))) };
  });

  r.get('/account/usage', async (c) => ({ body: await accountUsage(cluster, monthParam(c.url.searchParams.get('month'))) }));

  r.get('/metrics/apps', async (c) => {
    const last = Math.floor(Date.now() / 60_000) * 60 - 60;
    const { entries } = await cluster.list(cluster.keys.apps());
    const apps = entries.flatMap((e) => (e.kind === 'app' ? [e.value.name] : [])).slice(0, MAX_APPS);
    const minutes: AppMinute[] = [];
    for (let i = 0; i < apps.length; i += 50) {
      const got = await Promise.all(apps.slice(i, i + 50).map((a) => metrics.minutes(a, last, last + 60)));
      for (const m of got) if (m[0]) minutes.push(m[0]);
    }
    c.res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    c.res.end(renderApps(minutes));
    return undefined;
  });
}
