/**
 * What a reader asked for: `lines` (history, default 100, at most 1500), `tail`,
 * `source` (`app`, `heroku`, or `api` for platform events) and `dyno` (`web.1`
 * exactly, or `web` for every web dyno; `router` for the router's lines).
 * `since` (µs) skips older lines; a resuming tail client sends it.
 */
import { isDynoName, isProcessType } from '../../cluster/names.ts';
import type { LogRecord } from '../../logplex/record.ts';
import { invalid } from '../errors.ts';

export const MAX_LINES = 1500;
export const DEFAULT_LINES = 100;

export interface LogQuery {
  lines: number;
  tail: boolean;
  source?: 'app' | 'heroku' | 'api';
  dyno?: string;
  since?: number;
}


function bool(v: string, name: string): boolean {
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw invalid(`${name} must be true or false, not ${JSON.stringify(v)}`);
}

/** From URL query parameters or a JSON body (log-sessions); throws 422 naming the bad parameter. */
export function parseQuery(get: (name: string) => unknown): LogQuery {
  const q: LogQuery = { lines: DEFAULT_LINES, tail: false };
  const lines = get('lines') ?? get('num');
  if (lines !== undefined && lines !== null && lines !== '') {
    const n = typeof lines === 'number' ? lines : /^\d+$/.test(String(lines)) ? Number(lines) : NaN;
    if (!Number.isInteger(n) || n < 0 || n > MAX_LINES) throw invalid(`lines must be a whole number from 0 to ${MAX_LINES} (Heroku keeps the last ${MAX_LINES})`);
    q.lines = n;
  }
  const tail = get('tail');
  if (tail !== undefined && tail !== null) q.tail = typeof tail === 'boolean' ? tail : bool(String(tail), 'tail');
  const source = get('source');
  if (source !== undefined && source !== null && source !== '') {
    if (source !== 'app' && source !== 'heroku' && source !== 'api') throw invalid(`source must be app, heroku or api, not ${JSON.stringify(source)}`);
    q.source = source;
  }
  const dyno = get('dyno') ?? get('ps');
  if (dyno !== undefined && dyno !== null && dyno !== '') {
    if (typeof dyno !== 'string' || !(isDynoName(dyno) || isProcessType(dyno))) throw invalid(`dyno must be a dyno name (web.1) or a process type (web), not ${JSON.stringify(dyno)}`);
    q.dyno = dyno;
  }
  const since = get('since');
  if (since !== undefined && since !== null && since !== '') {
    const n = Number(since);
    if (!Number.isSafeInteger(n) || n < 0) throw invalid('since must be a time in microseconds since the epoch');
    q.since = n;
  }
  return q;
}

export function toSearch(q: LogQuery): string {
  const p = new URLSearchParams({ lines: String(q.lines), tail: String(q.tail) });
  if (q.source) p.set('source', q.source);
  if (q.dyno) p.set('dyno', q.dyno);
  if (q.since !== undefined) p.set('since', String(q.since));
  return p.toString();
}

/** The record test for a query; undefined when everything matches. */
export function matcher(q: LogQuery): ((r: LogRecord) => boolean) | undefined {
  const { source, dyno, since } = q;
  if (!source && !dyno && since === undefined) return undefined;
  const typePrefix = dyno && !dyno.includes('.') ? dyno + '.' : undefined;
  return (r) => {
    if (since !== undefined && r.ts < since) return false;
    if (source === 'api') {
      if (r.dyno !== 'api') return false;
    } else if (source && r.source !== source) return false;
    if (dyno && r.dyno !== dyno && !(typePrefix && r.dyno.startsWith(typePrefix))) return false;
    return true;
  };
}
