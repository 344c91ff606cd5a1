/**
 * Cron schedules as crontab(5) writes them, in UTC: five fields (minute hour
 * day-of-month month day-of-week) with `*`, lists, ranges, steps and names
 * (`jan`, `mon`), or `@hourly` `@daily` `@weekly` `@monthly` `@yearly`. When both
 * day fields are restricted, a day matching either runs (as Vixie cron).
 */

export class CronSyntaxError extends Error {
  override name = 'CronSyntaxError';
}

export interface Schedule {
  text: string;
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  /** Whether each day field was `*` (the day-of-month / day-of-week OR rule). */
  anyDay: boolean;
  anyWeekday: boolean;
}

const MACROS: Record<string, string> = {
  '@hourly': '0 * * * *', '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *', '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *',
};
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

function field(text: string, name: string, min: number, max: number, names?: string[]): Set<number> {
  const out = new Set<number>();
  const num = (s: string): number => {
    const n = names?.indexOf(s.toLowerCase()) ?? -1;
    const v = n >= 0 ? n + (name === 'month' ? 1 : 0) : /^\d+$/.test(s) ? Number(s) : NaN;
    if (!Number.isInteger(v) || v < min || v > max) throw new CronSyntaxError(`${name} "${s}" is not in ${min}-${max}`);
    return v;
  };
  for (const part of text.split(',')) {
    const m = /^([^/]+)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new CronSyntaxError(`${name} "${part}" is not a value, range or step`);
    const step = m[2] === undefined ? 1 : Number(m[2]);
    if (step < 1) throw new CronSyntaxError(`${name} step "${m[2]}" must be at least 1`);
    let lo: number;
    let hi: number;
    if (m[1] === '*') [lo, hi] = [min, max];
    else if (m[1]!.includes('-')) {
      const [a, b] = m[1]!.split('-');
      [lo, hi] = [num(a!), num(b!)];
      if (lo > hi) throw new CronSyntaxError(`${name} range "${m[1]}" runs backwards`);
    } else {
      lo = num(m[1]!);
      hi = m[2] === undefined ? lo : max;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

export function parseSchedule(text: string): Schedule {
  const src = text.trim();
  const expanded = MACROS[src.toLowerCase()] ?? src;
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5) throw new CronSyntaxError(`"${text}" needs five fields (minute hour day-of-month month day-of-week) or a macro such as @daily`);
  const [mi, h, d, mo, wd] = parts as [string, string, string, string, string];
  const weekdays = field(wd, 'day-of-week', 0, 7, DAYS);
  if (weekdays.delete(7)) weekdays.add(0); // 7 is Sunday too
  return {
    text: src,
    minutes: field(mi, 'minute', 0, 59),
    hours: field(h, 'hour', 0, 23),
    days: field(d, 'day-of-month', 1, 31),
    months: field(mo, 'month', 1, 12, MONTHS),
    weekdays,
    anyDay: d === '*' || d === '*/1',
    anyWeekday: wd === '*' || wd === '*/1',
  };
}

function dayMatches(s: Schedule, t: Date): boolean {
  const dom = s.days.has(t.getUTCDate());
  const dow = s.weekdays.has(t.getUTCDay());
  if (s.anyDay && s.anyWeekday) return true;
  if (s.anyDay) return dow;
  if (s.anyWeekday) return dom;
  return dom || dow;
}

export function matches(s: Schedule, t: Date): boolean {
  return s.minutes.has(t.getUTCMinutes()) && s.hours.has(t.getUTCHours()) && s.months.has(t.getUTCMonth() + 1) && dayMatches(s, t);
}

/** The first whole minute strictly after `after` (ms) that the schedule matches, or undefined within 5 years. */
export function nextRun(s: Schedule, after: number): number | undefined {
  const t = new Date(Math.floor(after / 60_000) * 60_000 + 60_000);
  const limit = after + 5 * 366 * 86_400_000;
  while (t.getTime() < limit) {
    if (!s.months.has(t.getUTCMonth() + 1)) {
      t.setUTCMonth(t.getUTCMonth() + 1, 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!dayMatches(s, t)) {
      t.setUTCDate(t.getUTCDate() + 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!s.hours.has(t.getUTCHours())) {
      t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
      continue;
    }
    if (!s.minutes.has(t.getUTCMinutes())) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    return t.getTime();
  }
  return undefined;
}
