/**
 * app.json (Heroku's app manifest), the subset dynomesh applies, checked field by
 * field so a bad one fails the push with the line and the field:
 *
 *   env          {KEY: "value" | {value?, description?, required? (default true), generator?: "secret"}}
 *   formation    {type: {quantity?, size?}}
 *   addons       ["service[:plan]" | {plan: "service[:plan]", as?, options?}]
 *   scripts      {postdeploy?: "cmd" | {command}, "pr-predestroy"?: ignored (no review apps)}
 *   buildpacks   [{url}]
 *   stack        must be the app's stack
 *   cron         [{command, schedule}] (Dokku's): run as scheduler.N one-off dynos
 *   healthchecks {web: {path, status?, timeout?, attempts?, interval?, wait?}} (or Dokku's list of checks)
 *
 * env, formation, addons and postdeploy apply once, on the push that first puts code
 * live (setup.ts); cron and healthchecks belong to each release.
 * Other Heroku fields (name, description, logo, repository, environments...) are allowed and not used.
 */
import { DYNO_SIZES, type CronEntry, type HealthCheck } from '../../cluster/records.ts';
import { CronSyntaxError, parseSchedule } from '../cron/schedule.ts';
import { JsonSyntaxError, parseJsonWithLines } from './json-lines.ts';
import { isProcessType } from '../../cluster/names.ts';

export class AppJsonError extends Error {
  override name = 'AppJsonError';
  constructor(readonly line: number, readonly field: string, problem: string) {
    super(`app.json line ${line}${field ? `, ${field}` : ''}: ${problem}`);
  }
}

export interface EnvSpec {
  value?: string;
  description?: string;
  required: boolean;
  generator?: 'secret';
}

export interface AppJson {
  env: Record<string, EnvSpec>;
  formation: Record<string, { quantity?: number; size?: string }>;
  addons: { service: string; plan?: string; as?: string; options: Record<string, string> }[];
  postdeploy?: string;
  /** Fields present that dynomesh does not act on, for a note in the push output. */
  ignored: string[];
  buildpacks: string[];
  stack?: string;
  cron: CronEntry[];
  healthchecks?: HealthCheck;
  /** The line of a field, for errors found later (a required env var with no value, the stack). */
  lineOf(path: string): number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const CONFIG_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseAppJson(text: string): AppJson {
  let doc;
  try {
    doc = parseJsonWithLines(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw new AppJsonError(err.line, '', `not valid JSON (column ${err.column}: ${err.message})`);
    throw err;
  }
  const bad = (path: string, problem: string): never => {
    throw new AppJsonError(doc.lineOf(path), path, problem);
  };
  const root = doc.value;
  if (!isObj(root)) return bad('', 'must be a JSON object');
  const out: AppJson = { env: {}, formation: {}, addons: [], ignored: [], buildpacks: [], cron: [], lineOf: doc.lineOf };

  const str = (path: string, v: unknown, what = 'a string'): string => (typeof v === 'string' ? v : bad(path, `must be ${what}`));
  const int = (path: string, v: unknown, min: number, max: number): number =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : bad(path, `must be a whole number from ${min} to ${max}`);
  const seconds = (path: string, v: unknown, min: number, max: number): number =>
    typeof v === 'number' && v >= min && v <= max ? v : bad(path, `must be a number of seconds from ${min} to ${max}`);

  if (root.env !== undefined) {
    if (!isObj(root.env)) bad('env', 'must be an object of config var names');
    for (const [key, spec] of Object.entries(root.env as Obj)) {
      const p = `env.${key}`;
      if (!CONFIG_KEY.test(key) || key.startsWith('__')) bad(p, 'is not a valid config var name (letters, digits and _, not starting with a digit or __)');
      if (typeof spec === 'string') {
        out.env[key] = { value: spec, required: true };
        continue;
      }
      if (!isObj(spec)) bad(p, 'must be a string or an object with value, description, required or generator');
      const s = spec as Obj;
      const e: EnvSpec = { required: s.required === undefined ? true : typeof s.required === 'boolean' ? s.required : bad(`${p}.required`, 'must be true or false') };
      if (s.value !== undefined) e.value = str(`${p}.value`, s.value);
      if (s.description !== undefined) e.description = str(`${p}.description`, s.description);
      if (s.generator !== undefined) {
        if (s.generator !== 'secret') bad(`${p}.generator`, 'must be "secret" (the only generator)');
        e.generator = 'secret';
      }
      out.env[key] = e;
    }
  }

  if (root.formation !== undefined) {
    if (!isObj(root.formation)) bad('formation', 'must be an object of process types, e.g. {"web": {"quantity": 2}}');
    for (const [type, f] of Object.entries(root.formation as Obj)) {
      const p = `formation.${type}`;
      if (!isProcessType(type)) bad(p, 'is not a process type (lowercase letters, digits and _)');
      if (type === 'release') bad(p, 'release runs in the release phase and cannot be scaled');
      if (!isObj(f)) bad(p, 'must be an object with quantity and/or size');
      const spec = f as Obj;
      const entry: { quantity?: number; size?: string } = {};
      if (spec.quantity !== undefined) entry.quantity = int(`${p}.quantity`, spec.quantity, 0, 100);
      if (spec.size !== undefined) {
        const size = str(`${p}.size`, spec.size).trim().toLowerCase();
        if (!(size in DYNO_SIZES)) bad(`${p}.size`, `"${spec.size}" is not a dyno size; use one of ${Object.keys(DYNO_SIZES).join(', ')}`);
        entry.size = size;
      }
      out.formation[type] = entry;
    }
  }

  if (root.addons !== undefined) {
    if (!Array.isArray(root.addons)) bad('addons', 'must be a list such as ["postgresql"] or [{"plan": "redis", "as": "CACHE"}]');
    for (const [i, a] of (root.addons as unknown[]).entries()) {
      const p = `addons.${i}`;
      const spec: Obj = typeof a === 'string' ? { plan: a } : isObj(a) ? a : bad(p, 'must be "service[:plan]" or an object with plan');
      const plan = str(`${p}${typeof a === 'string' ? '' : '.plan'}`, spec.plan, 'a "service[:plan]" string');
      const m = /^([a-z][a-z0-9-]*)(?::([a-z0-9-]+))?$/.exec(plan);
      if (!m) bad(`${p}${typeof a === 'string' ? '' : '.plan'}`, `"${plan}" is not service[:plan], e.g. postgresql or redis:mini`);
      const options: Record<string, string> = {};
      if (spec.options !== undefined) {
        if (!isObj(spec.options)) bad(`${p}.options`, 'must be an object of strings');
        for (const [k, v] of Object.entries(spec.options as Obj)) options[k] = str(`${p}.options.${k}`, v);
      }
      out.addons.push({
        service: m![1]!, ...(m![2] ? { plan: m![2] } : {}), options,
        ...(spec.as !== undefined ? { as: str(`${p}.as`, spec.as) } : {}),
      });
    }
  }

  if (root.scripts !== undefined) {
    if (!isObj(root.scripts)) bad('scripts', 'must be an object such as {"postdeploy": "bin/setup"}');
    const scripts = root.scripts as Obj;
    for (const [name, v] of Object.entries(scripts)) {
      const p = `scripts.${name}`;
      if (name === 'postdeploy') {
        const cmd = typeof v === 'string' ? v : isObj(v) ? str(`${p}.command`, v.command) : bad(p, 'must be a command string or {"command": "..."}');
        if (!cmd.trim()) bad(p, 'is empty');
        out.postdeploy = cmd;
      } else if (name === 'pr-predestroy') {
        out.ignored.push('scripts.pr-predestroy (review apps are not supported)');
      } else {
        bad(p, 'is not a script dynomesh knows (postdeploy, pr-predestroy)');
      }
    }
  }

  if (root.buildpacks !== undefined) {
    if (!Array.isArray(root.buildpacks)) bad('buildpacks', 'must be a list such as [{"url": "heroku/nodejs"}]');
    for (const [i, b] of (root.buildpacks as unknown[]).entries()) {
      if (!isObj(b)) bad(`buildpacks.${i}`, 'must be an object with url');
      out.buildpacks.push(str(`buildpacks.${i}.url`, (b as Obj).url).trim() || bad(`buildpacks.${i}.url`, 'is empty'));
    }
  }

  if (root.stack !== undefined) out.stack = str('stack', root.stack);

  if (root.cron !== undefined) {
    if (!Array.isArray(root.cron)) bad('cron', 'must be a list such as [{"command": "bin/report", "schedule": "*/5 * * * *"}]');
    for (const [i, c] of (root.cron as unknown[]).entries()) {
      const p = `cron.${i}`;
      if (!isObj(c)) bad(p, 'must be an object with command and schedule');
      const entry = c as Obj;
      const command = str(`${p}.command`, entry.command);
      if (!command.trim()) bad(`${p}.command`, 'is empty');
      const schedule = str(`${p}.schedule`, entry.schedule);
      try {
        parseSchedule(schedule);
      } catch (err) {
        if (err instanceof CronSyntaxError) bad(`${p}.schedule`, err.message);
        throw err;
      }
      out.cron.push({ command, schedule: schedule.trim() });
    }
  }

  if (root.healthchecks !== undefined) {
    if (!isObj(root.healthchecks)) bad('healthchecks', 'must be an object such as {"web": {"path": "/health"}}');
    for (const [type, raw] of Object.entries(root.healthchecks as Obj)) {
      const p0 = `healthchecks.${type}`;
      if (type !== 'web') bad(p0, 'only web dynos take health checks');
      // Dokku writes a list of checks: the first one is the startup check.
      const p = Array.isArray(raw) ? `${p0}.0` : p0;
      const spec = Array.isArray(raw) ? raw[0] : raw;
      if (!isObj(spec)) bad(p, 'must be an object with path (and status, timeout, attempts, interval)');
      const h = spec as Obj;
      const path = str(`${p}.path`, h.path, 'a path such as "/health"');
      if (!path.startsWith('/') || /\s/.test(path)) bad(`${p}.path`, 'must start with / and hold no spaces');
      out.healthchecks = {
        path,
        status: h.status === undefined ? 200 : int(`${p}.status`, h.status, 100, 599),
        timeoutMs: 1000 * (h.timeout === undefined ? 5 : seconds(`${p}.timeout`, h.timeout, 0.1, 60)),
        attempts: h.attempts === undefined ? 10 : int(`${p}.attempts`, h.attempts, 1, 100),
        intervalMs: 1000 * (h.interval === undefined ? 3 : seconds(`${p}.interval`, h.interval, 0.1, 60)),
        waitMs: 1000 * (h.wait === undefined ? 0 : seconds(`${p}.wait`, h.wait, 0, 300)),
      };
    }
  }
  return out;
}
