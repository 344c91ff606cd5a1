/**
 * A reader's stream: history first, then (when tailing) every new matching line,
 * written to an HTTP response as text, one line each. A reader that falls more
 * than `maxBehindBytes` behind is cut off with an L11 line instead of letting
 * the response buffer grow.
 */
import type { ServerResponse } from 'node:http';
import { formatRecord, l11, nowMicros } from '../../logplex/record.ts';
import type { LogQuery } from './filter.ts';
import { matcher } from './filter.ts';
import type { Entry, LogStore, Subscriber } from './store.ts';

export const MAX_BEHIND_BYTES = 4 * 1024 * 1024;

export interface StreamHeaders {
  owner: string;
  peers: string[];
}

export function startStream(store: LogStore, app: string, q: LogQuery, res: ServerResponse, h: StreamHeaders, maxBehindBytes = MAX_BEHIND_BYTES): void {
  res.writeHead(200, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
    'dynomesh-log-owner': h.owner,
    ...(h.peers.length ? { 'dynomesh-api-peers': h.peers.join(',') } : {}),
  });
  const match = matcher(q);
  const history = q.lines > 0 ? (store.get(app)?.last(q.lines, match) ?? []) : [];
  if (history.length) res.write(history.map((e) => e.text).join('\n') + '\n');
  if (!q.tail) {
    res.end();
    return;
  }
  res.flushHeaders();
  const tail = new Tail(res, match, maxBehindBytes, app);
  const unsubscribe = store.subscribe(app, tail);
  res.on('close', () => unsubscribe());
}

class Tail implements Subscriber {
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly match: ((r: Entry['rec']) => boolean) | undefined,
    private readonly maxBehind: number,
    private readonly app: string,
  ) {}

  push(entries: Entry[]): void {
    if (this.done) return;
    let text = '';
    let n = 0;
    let first = 0;
    for (const e of entries) {
      if (this.match && !this.match(e.rec)) continue;
      if (n === 0) first = e.rec.ts;
      text += e.text + '\n';
      n++;
    }
    if (n === 0) return;
    if (this.res.writableLength > this.maxBehind) {
      this.done = true;
      const notice = { app: this.app, source: 'heroku' as const, dyno: 'logplex', ts: nowMicros(), line: l11(n, first) };
      this.res.end(formatRecord(notice) + '\n');
      return;
    }
    this.res.write(text);
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    // Not a clean end: the reader must see the stream break and resume on the app's new owner.
    this.res.destroy();
  }
}
