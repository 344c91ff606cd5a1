/**
 * Console lines for `dynomesh up`: daemons log pino JSON; people want
 * `06:01:02 control  | control-started url=http://127.0.0.1:5050`. Lines that
 * are not JSON pass through as they are.
 */
const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: '', 40: 'WARN ', 50: 'ERROR ', 60: 'FATAL ' };
const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'component', 'v', 'id', 'node']);

function value(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (v && typeof v === 'object') {
    const m = (v as { message?: unknown }).message;
    return typeof m === 'string' ? JSON.stringify(m) : JSON.stringify(v);
  }
  return String(v);
}

function clock(t: number): string {
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function formatLine(name: string, line: string, width = 10): string {
  const label = name.padEnd(width);
  if (line.startsWith('{')) {
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      const level = LEVELS[Number(rec.level)] ?? '';
      const fields = Object.entries(rec).filter(([k, v]) => !SKIP.has(k) && v !== undefined).map(([k, v]) => `${k}=${value(v)}`);
      const time = typeof rec.time === 'number' ? rec.time : Date.now();
      return `${clock(time)} ${label}| ${level}${String(rec.msg ?? '')}${fields.length ? ' ' + fields.join(' ') : ''}`;
    } catch {
      /* not JSON after all */
    }
  }
  return `${clock(Date.now())} ${label}| ${line}`;
}
