/**
 * Output for people and for scripts. People get aligned tables and Heroku's
 * `=== title` headers; `--json` prints the API's objects as they came, so a
 * script sees the same shapes as the Platform API.
 */

export interface Column<T> {
  header: string;
  get: (row: T) => string | number | boolean | null | undefined;
  /** Right-align (numbers). */
  right?: boolean;
}

const str = (v: string | number | boolean | null | undefined) => (v === null || v === undefined ? '' : String(v));

/** Visible width: ignores ANSI colour codes. */
function width(s: string): number {
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

function pad(s: string, w: number, right = false): string {
  const fill = ' '.repeat(Math.max(0, w - width(s)));
  return right ? fill + s : s + fill;
}

/** An aligned table with a header row and a rule under it; no trailing spaces. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => str(c.get(r))));
  const widths = columns.map((c, i) => Math.max(width(c.header), ...cells.map((row) => width(row[i]!))));
  const line = (vals: string[]) => vals.map((v, i) => pad(v, widths[i]!, columns[i]!.right)).join('  ').trimEnd();
  const out = [line(columns.map((c) => c.header)), line(widths.map((w) => '─'.repeat(w))), ...cells.map(line)];
  return out.join('\n') + '\n';
}

/** `key: value` lines with the values aligned, as `heroku config` and `apps:info` print them. */
export function keyValues(pairs: readonly (readonly [string, string | number | boolean | null | undefined])[], sep = ':'): string {
  if (pairs.length === 0) return '';
  const w = Math.max(...pairs.map(([k]) => width(k) + sep.length));
  return pairs.map(([k, v]) => `${pad(k + sep, w)} ${str(v)}`.trimEnd()).join('\n') + '\n';
}

export function header(title: string): string {
  return `=== ${title}\n`;
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** Writes to stdout; a closed pipe (`dynomesh ps | head -1`) ends quietly. */
export function print(text: string): void {
  process.stdout.write(text);
}

/** Progress and notices go to stderr so stdout stays clean for pipes and --json. */
export function info(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : text + '\n');
}

/** "5m ago", "2h ago": relative times for people. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** `2026-11-26 06:01:02` in local time, as the Heroku CLI's release list shows it. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (!Number.isFinite(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
