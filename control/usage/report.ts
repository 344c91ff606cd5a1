/**
 * A month's usage: dyno-seconds per app, process type and size, from the closed
 * intervals of that month (`usage/{app}/{month}/`) plus the open runs'
 * (`usage-open/`) time in it: until their end when their node marked one and the
 * leader has not moved them yet, else until now.
 */
import type { Cluster } from '../../cluster/client.ts';
import type { UsageOpen } from '../../cluster/records.ts';
import { monthRange, runSeconds } from '../../cluster/usage.ts';

export interface UsageLine {
  type: string;
  size: string;
  seconds: number;
  dynoHours: number;
}

export interface AppUsage {
  app: string;
  month: string;
  lines: UsageLine[];
  totalSeconds: number;
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;

class Tally {
  private readonly byApp = new Map<string, Map<string, number>>();

  add(app: string, type: string, size: string, seconds: number): void {
    if (seconds <= 0) return;
    let m = this.byApp.get(app);
    if (!m) this.byApp.set(app, (m = new Map()));
    const k = `${type}\0${size}`;
    m.set(k, (m.get(k) ?? 0) + seconds);
  }

  apps(): string[] {
    return [...this.byApp.keys()].sort();
  }

  report(app: string, month: string): AppUsage {
    const lines: UsageLine[] = [];
    let total = 0;
    for (const [k, s] of this.byApp.get(app) ?? []) {
      const [type, size] = k.split('\0') as [string, string];
      lines.push({ type, size, seconds: round1(s), dynoHours: round2(s / 3600) });
      total += s;
    }
    lines.sort((a, b) => a.type.localeCompare(b.type) || a.size.localeCompare(b.size));
    return { app, month, lines, totalSeconds: round1(total) };
  }
}

async function openRuns(cluster: Cluster): Promise<UsageOpen[]> {
  const { entries } = await cluster.list(cluster.keys.usageOpens());
  return entries.flatMap((e) => (e.kind === 'usageOpen' ? [e.value] : []));
}

function addOpen(t: Tally, opens: UsageOpen[], month: string, now: number, app?: string): void {
  const [from, to] = monthRange(month);
  for (const o of opens) if (!app || o.app === app) t.add(o.app, o.type, o.size, runSeconds(o, now, from, to));
}

export async function appUsage(cluster: Cluster, app: string, month: string, now = Date.now()): Promise<AppUsage> {
  const t = new Tally();
  const [closed, opens] = await Promise.all([cluster.list(cluster.keys.usageOfMonth(app, month)), openRuns(cluster)]);
  for (const e of closed.entries) if (e.kind === 'usageInterval') t.add(app, e.value.type, e.value.size, (e.value.end - e.value.start) / 1000);
  addOpen(t, opens, month, now, app);
  return t.report(app, month);
}

/** Every app's usage in a month (admins). Reads every usage key: kept for billing, one per run per month. */
export async function accountUsage(cluster: Cluster, month: string, now = Date.now()): Promise<{ month: string; apps: AppUsage[] }> {
  const t = new Tally();
  for await (const page of cluster.pages(cluster.keys.usage())) {
    for (const e of page.entries) {
      if (e.kind !== 'usageInterval' || e.ref.month !== month) continue;
      t.add(e.value.app, e.value.type, e.value.size, (e.value.end - e.value.start) / 1000);
    }
  }
  addOpen(t, await openRuns(cluster), month, now);
  return { month, apps: t.apps().map((a) => t.report(a, month)) };
}
