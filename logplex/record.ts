/**
 * A log record as every producer ships it and the log service stores it, and
 * Heroku's line format:
 *
 *   2026-11-26T10:00:00.123456+00:00 app[web.1]: message
 *
 * `ts` is microseconds since the epoch (Heroku prints µs). `source` is Heroku's
 * source (`app` for dyno output and platform events, `heroku` for router and
 * dyno-manager lines); `dyno` the process (`web.1`, `router`, `api`, `logplex`).
 */

export type Source = 'app' | 'heroku';

export interface LogRecord {
  app: string;
  source: Source;
  dyno: string;
  /** Microseconds since the epoch. */
  ts: number;
  line: string;
}

/** Heroku splits lines over 10,000 bytes. */
export const MAX_LINE_BYTES = 10_000;

// performance.now() is monotonic and sub-ms; anchored once to the wall clock.
const origin = performance.timeOrigin;

/** Now, in microseconds since the epoch. */
export function nowMicros(): number {
  return Math.floor((origin + performance.now()) * 1000);
}

const pad2 = (n: number) => (n < 10 ? '0' : '') + n;

/** RFC 3339 with microseconds in UTC, as Heroku prints: `2026-11-26T10:00:00.123456+00:00`. */
export function formatTime(us: number): string {
  const ms = Math.floor(us / 1000);
  const d = new Date(ms);
  const frac = String(((us % 1_000_000) + 1_000_000) % 1_000_000).padStart(6, '0');
  return (
    d.getUTCFullYear() + '-' + pad2(d.getUTCMonth() + 1) + '-' + pad2(d.getUTCDate()) +
    'T' + pad2(d.getUTCHours()) + ':' + pad2(d.getUTCMinutes()) + ':' + pad2(d.getUTCSeconds()) +
    '.' + frac + '+00:00'
  );
}

/** `<time> <source>[<dyno>]: <line>` */
export function formatRecord(r: LogRecord): string {
  return formatTime(r.ts) + ' ' + r.source + '[' + r.dyno + ']: ' + r.line;
}

/**
 * Splits a line into pieces of at most `max` UTF-8 bytes without cutting a
 * character in two. Most lines are short and come back as the same string.
 */
export function splitLine(line: string, max = MAX_LINE_BYTES): string[] {
  // A UTF-16 unit is at most 3 UTF-8 bytes: short strings cannot be over.
  if (line.length * 3 <= max || Buffer.byteLength(line) <= max) return [line];
  const buf = Buffer.from(line);
  const out: string[] = [];
  let start = 0;
  while (start < buf.length) {
    let end = Math.min(start + max, buf.length);
    // Back off continuation bytes (10xxxxxx) so the cut lands on a character boundary.
    if (end < buf.length) while (end > start && (buf[end]! & 0xc0) === 0x80) end--;
    out.push(buf.toString('utf8', start, end));
    start = end;
  }
  return out;
}

/** Heroku's overflow notices, written as `heroku[logplex]` lines into the app's stream. */
export function l10(dropped: number, sinceUs: number): string {
  return `Error L10 (output buffer overflow): ${dropped} messages dropped since ${formatTime(sinceUs)}.`;
}

export function l11(dropped: number, sinceUs: number): string {
  return `Error L11 (Tail buffer overflow): this tail session dropped ${dropped} messages since ${formatTime(sinceUs)} and was closed because it read too slowly.`;
}

/** The µs timestamp at the start of a formatted line, or undefined when it has none. */
export function parseLineTime(text: string): number | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\+00:00 /.exec(text);
  if (!m) return undefined;
  const s = Date.parse(m[1] + 'Z');
  return Number.isNaN(s) ? undefined : s * 1000 + Number(m[2]);
}
