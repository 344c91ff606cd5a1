/**
 * Parsers for the arguments people type: `web=3 worker=1`, `web+2`,
 * `web=2:standard-2x`, `KEY=value=with=equals`, `v12`. Each throws a CliError
 * naming the bad argument and the form that works.
 */
import { CliError } from './errors.ts';
import { PROCESS_TYPE } from '../cluster/names.ts';

export interface ScaleArg {
  type: string;
  /** An absolute quantity (`web=3`). */
  quantity?: number;
  /** A change relative to the current quantity (`web+2`, `web-1`). */
  delta?: number;
  size?: string;
}

const SCALE = new RegExp(`^(${PROCESS_TYPE})(?:=(\\d+)?(?::([A-Za-z0-9-]+))?|([+-])(\\d+))$`);

export function parseScaleArgs(args: readonly string[]): ScaleArg[] {
  if (args.length === 0) throw new CliError('Usage: dynomesh ps:scale web=3 worker=1 (or web+2, web-1, web=2:standard-2x)');
  const seen = new Set<string>();
  return args.map((a) => {
    const m = SCALE.exec(a.trim());
    if (!m || (m[2] === undefined && m[3] === undefined && m[4] === undefined)) {
      throw new CliError(`"${a}" is not a scale argument; write TYPE=QUANTITY (web=3), TYPE+N / TYPE-N (web+2) or TYPE=QUANTITY:SIZE (web=2:standard-2x)`);
    }
    const type = m[1]!;
    if (seen.has(type)) throw new CliError(`process type ${type} is given twice; scale each type once`);
    seen.add(type);
    if (m[4]) return { type, delta: (m[4] === '-' ? -1 : 1) * Number(m[5]) };
    return { type, ...(m[2] !== undefined ? { quantity: Number(m[2]) } : {}), ...(m[3] ? { size: m[3].toLowerCase() } : {}) };
  });
}

/** Resolves relative changes against the current formation; never below 0. */
export function resolveScale(args: readonly ScaleArg[], current: ReadonlyMap<string, number>): { type: string; quantity?: number; size?: string }[] {
  return args.map((a) => {
    const out: { type: string; quantity?: number; size?: string } = { type: a.type };
    if (a.delta !== undefined) out.quantity = Math.max(0, (current.get(a.type) ?? 0) + a.delta);
    else if (a.quantity !== undefined) out.quantity = a.quantity;
    if (a.size) out.size = a.size;
    return out;
  });
}

const CONFIG_KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** `KEY=value` pairs; the value is everything after the first `=`, so it may hold `=` itself. */
export function parseConfigPairs(args: readonly string[]): Record<string, string> {
  if (args.length === 0) throw new CliError('Usage: dynomesh config:set KEY=value [KEY2=value2 ...]');
  const out: Record<string, string> = {};
  for (const a of args) {
    const i = a.indexOf('=');
    if (i <= 0) throw new CliError(`"${a}" is invalid; write it as KEY=value (e.g. GREETING=hello)`);
    const key = a.slice(0, i);
    if (!CONFIG_KEY.test(key)) throw new CliError(`"${key}" is not a config var name; use letters, digits and _ (starting with a letter or _)`);
    out[key] = a.slice(i + 1);
  }
  return out;
}

export function parseConfigKeys(args: readonly string[]): string[] {
  if (args.length === 0) throw new CliError('Usage: dynomesh config:unset KEY [KEY2 ...]');
  for (const k of args) if (!CONFIG_KEY.test(k)) throw new CliError(`"${k}" is not a config var name`);
  return [...args];
}

/** `v12`, `V12` or `12` → 12. */
export function parseReleaseRef(v: string): number {
  const m = /^[vV]?(\d+)$/.exec(v.trim());
  if (!m || Number(m[1]) < 1) throw new CliError(`"${v}" is not a release; write it as v12 (see \`dynomesh releases\`)`);
  return Number(m[1]);
}

/** `dynomesh run` argv → one shell command line, quoting what the shell would split. */
export function commandLine(argv: readonly string[]): string {
  if (argv.length === 1) return argv[0]!;
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
