/**
 * The small YAML subset `bin/release` prints (Heroku buildpack API):
 *
 *   ---
 *   addons:
 *     - heroku-postgresql
 *   config_vars:
 *     KEY: value
 *   default_process_types:
 *     web: npm start
 *
 * Top-level keys holding a map of scalars, a list of scalars, a scalar, or `{}`/`[]`.
 * Anything deeper is refused with the line number, so a buildpack author sees why.
 */

export type ReleaseValue = string | string[] | Record<string, string>;

export class ReleaseYamlError extends Error {
  override name = 'ReleaseYamlError';
}

function scalar(s: string, line: number): string {
  const t = s.trim();
  if (t.startsWith('"')) {
    try {
      return JSON.parse(t) as string;
    } catch {
      throw new ReleaseYamlError(`line ${line}: bad double-quoted string ${t}`);
    }
  }
  if (t.startsWith("'")) {
    if (!t.endsWith("'") || t.length < 2) throw new ReleaseYamlError(`line ${line}: unterminated single-quoted string`);
    return t.slice(1, -1).replace(/''/g, "'");
  }
  // A plain scalar ends at ` #` (comment).
  const hash = t.search(/\s#/);
  return (hash >= 0 ? t.slice(0, hash) : t).trim();
}

function flow(s: string, line: number): ReleaseValue | undefined {
  const t = s.trim();
  if (t === '{}') return {};
  if (t === '[]') return [];
  if (t.startsWith('{') || t.startsWith('[')) {
    // Flow collections of plain scalars (`{web: npm start}` / `[a, b]`).
    const inner = t.slice(1, -1).trim();
    const parts = inner === '' ? [] : inner.split(',');
    if (t.startsWith('[')) return parts.map((p) => scalar(p, line));
    const map: Record<string, string> = {};
    for (const p of parts) {
      const i = p.indexOf(':');
      if (i < 0) throw new ReleaseYamlError(`line ${line}: expected key: value in ${t}`);
      map[scalar(p.slice(0, i), line)] = scalar(p.slice(i + 1), line);
    }
    return map;
  }
  return undefined;
}

export function parseReleaseYaml(text: string): Record<string, ReleaseValue> {
  const out: Record<string, ReleaseValue> = {};
  let key: string | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i]!.replace(/\t/g, '  ');
    const content = raw.trim();
    if (content === '' || content.startsWith('#') || content === '---' || content === '...') continue;
    const indented = /^\s/.test(raw);
    if (!indented) {
      const m = /^([^:#]+):(?:\s+(.*))?$/.exec(content);
      if (!m) throw new ReleaseYamlError(`line ${n}: expected "key:" at the top level, got ${JSON.stringify(content)}`);
      key = m[1]!.trim();
      const rest = (m[2] ?? '').trim();
      if (rest === '') continue; // a block follows (or the value is empty)
      out[key] = flow(rest, n) ?? scalar(rest, n);
      key = undefined;
      continue;
    }
    if (!key) throw new ReleaseYamlError(`line ${n}: indented line without a parent key`);
    if (content.startsWith('- ') || content === '-') {
      const cur = out[key] ?? [];
      if (!Array.isArray(cur)) throw new ReleaseYamlError(`line ${n}: list item inside the map "${key}"`);
      cur.push(scalar(content.slice(1), n));
      out[key] = cur;
      continue;
    }
    const m = /^([^:]+):(?:\s+(.*))?$/.exec(content);
    if (!m) throw new ReleaseYamlError(`line ${n}: expected "name: value" under "${key}"`);
    const cur = out[key] ?? {};
    if (Array.isArray(cur) || typeof cur === 'string') throw new ReleaseYamlError(`line ${n}: map entry inside the list "${key}"`);
    const value = (m[2] ?? '').trim();
    if (value === '' && i + 1 < lines.length && /^\s{2,}\S/.test(lines[i + 1] ?? '') && lines[i + 1]!.search(/\S/) > raw.search(/\S/)) {
      throw new ReleaseYamlError(`line ${n}: nesting deeper than two levels is not supported`);
    }
    cur[scalar(m[1]!, n)] = scalar(value, n);
    out[key] = cur;
  }
  return out;
}

/** `default_process_types` from bin/release output ({} when absent). */
export function defaultProcessTypes(text: string): Record<string, string> {
  const v = parseReleaseYaml(text).default_process_types;
  if (v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) return {};
  if (typeof v === 'string' || Array.isArray(v)) throw new ReleaseYamlError('default_process_types must be a map of type: command');
  return v;
}
