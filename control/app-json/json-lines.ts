/**
 * JSON.parse that remembers where each value was: `lineOf('env.SECRET.required')`
 * gives the line of that field, so a bad app.json fails the push naming the line
 * and the field. Strict JSON (RFC 8259); a syntax error says the line and column.
 */

export class JsonSyntaxError extends Error {
  override name = 'JsonSyntaxError';
  constructor(readonly line: number, readonly column: number, message: string) {
    super(message);
  }
}

export interface LocatedJson {
  value: unknown;
  /** Line (1-based) of the value at `path` (dot-joined keys and indexes), or of its nearest located parent. */
  lineOf(path: string): number;
}

export function parseJsonWithLines(text: string): LocatedJson {
  const lines = new Map<string, number>();
  let i = 0;
  let line = 1;
  let lineStart = 0;

  const fail = (what: string): never => {
    throw new JsonSyntaxError(line, i - lineStart + 1, what);
  };
  const ws = () => {
    for (;;) {
      const c = text[i];
      if (c === '\n') {
        line++;
        lineStart = ++i;
      } else if (c === ' ' || c === '\t' || c === '\r') i++;
      else return;
    }
  };
  const str = (): string => {
    const start = i;
    i++; // opening quote
    for (;;) {
      const c = text[i];
      if (c === undefined || c === '\n') fail('unterminated string');
      if (c === '\\') i += 2;
      else if (c === '"') break;
      else i++;
    }
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      return fail('invalid escape in string');
    }
  };
  const value = (path: string): unknown => {
    ws();
    lines.set(path, line);
    const c = text[i];
    if (c === '{') {
      i++;
      const out: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') return i++, out;
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a "key"');
        const keyLine = line;
        const key = str();
        ws();
        if (text[i] !== ':') fail(`expected ":" after "${key}"`);
        i++;
        const p = path ? `${path}.${key}` : key;
        out[key] = value(p);
        lines.set(p, Math.min(lines.get(p) ?? keyLine, keyLine));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return i++, out;
        else fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const out: unknown[] = [];
      ws();
      if (text[i] === ']') return i++, out;
      for (;;) {
        out.push(value(path ? `${path}.${out.length}` : String(out.length)));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return i++, out;
        else fail('expected "," or "]"');
      }
    }
    if (c === '"') return str();
    const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) return fail(c === undefined ? 'unexpected end of file' : `unexpected ${JSON.stringify(c)}`);
    i += m[0].length;
    return JSON.parse(m[0]);
  };

  const v = value('');
  ws();
  if (i < text.length) fail('unexpected text after the end');
  return {
    value: v,
    lineOf(path: string) {
      for (let p = path; ; p = p.slice(0, Math.max(0, p.lastIndexOf('.')))) {
        const l = lines.get(p);
        if (l !== undefined) return l;
        if (p === '') return 1;
      }
    },
  };
}
