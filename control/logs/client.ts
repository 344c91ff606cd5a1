/**
 * A log tail that survives the loss of a control instance: `followLogs` streams
 * `GET /apps/:app/logs?tail=true` from one API URL, and when the stream breaks
 * (the instance died, or the app moved to another owner) it reconnects, to the
 * same URL or to a peer it learned from `dynomesh-api-peers`, asking for recent
 * history `since` shortly before the last line it printed and skipping lines it
 * already printed. An L11 cut-off (the reader was too slow) ends it, as Heroku's.
 *
 * For the CLI (`dynomesh logs --tail`) and tests; it imports nothing of the daemons.
 */
import { Backoff } from '../../lib/backoff.ts';
import { parseLineTime } from '../../logplex/record.ts';

export interface FollowOptions {
  /** API base URLs to try, in order (more are learned from the server). */
  urls: string[];
  app: string;
  token: string;
  lines?: number;
  source?: string;
  dyno?: string;
  onLine(line: string): void;
  /** Called each time a stream is open (history follows), with the instance that owns the app's stream. */
  onConnected?(url: string, owner: string): void;
  /** Called on each reconnect, with why the previous stream ended. */
  onResume?(reason: string, url: string): void;
  signal?: AbortSignal;
  /** Give up after failing to reconnect for this long. */
  retryForMs?: number;
}

export type FollowEnd = 'aborted' | 'cut-off';

/** How far back a resume asks for history: lines from slower producers can arrive late. */
const RESUME_SLACK_US = 5_000_000;
const SEEN_MAX = 20_000;

export class LogClientError extends Error {
  override name = 'LogClientError';
}

export async function followLogs(o: FollowOptions): Promise<FollowEnd> {
  const urls = [...o.urls];
  const seen = new Set<string>();
  const order: string[] = [];
  let lastTs: number | undefined;
  let urlIndex = 0;
  let brokeAt: number | undefined;
  let reason = '';
  const backoff = new Backoff(200, 2000);

  const remember = (line: string) => {
    seen.add(line);
    order.push(line);
    if (order.length > SEEN_MAX) seen.delete(order.shift()!);
  };

  for (;;) {
    if (o.signal?.aborted) return 'aborted';
    const base = urls[urlIndex % urls.length]!.replace(/\/$/, '');
    const q = new URLSearchParams({ tail: 'true' });
    if (o.source) q.set('source', o.source);
    if (o.dyno) q.set('dyno', o.dyno);
    if (lastTs === undefined) q.set('lines', String(o.lines ?? 100));
    else {
      q.set('lines', '1500');
      q.set('since', String(Math.max(0, lastTs - RESUME_SLACK_US)));
    }
    let res: Response;
    try {
      res = await fetch(`${base}/apps/${encodeURIComponent(o.app)}/logs?${q}`, {
        headers: { authorization: `Bearer ${o.token}`, accept: 'text/plain' },
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (err) {
      if (o.signal?.aborted) return 'aborted';
      reason = `cannot reach ${base}: ${(err as Error).message}`;
      res = undefined as unknown as Response;
    }
    if (res && res.status !== 200) {
      const text = await res.text().catch(() => '');
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        /* not JSON */
      }
      // Permanent refusals (bad token, unknown app, bad filter) end it; 5xx is a moving owner.
      if (res.status < 500) throw new LogClientError(`${base} answered ${res.status}: ${message}`);
      reason = `${base} answered ${res.status}: ${message}`;
    } else if (res) {
      for (const peer of (res.headers.get('dynomesh-api-peers') ?? '').split(',').filter(Boolean)) {
        if (!urls.includes(peer)) urls.push(peer);
      }
      o.onConnected?.(base, res.headers.get('dynomesh-log-owner') ?? '');
      if (brokeAt !== undefined) o.onResume?.(reason, base);
      brokeAt = undefined;
      backoff.reset();
      let partial = '';
      let cutOff = false;
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          const parts = (partial + decoder.decode(chunk, { stream: true })).split('\n');
          partial = parts.pop()!;
          for (const line of parts) {
            if (!line || seen.has(line)) continue;
            remember(line);
            const ts = parseLineTime(line);
            if (ts !== undefined && (lastTs === undefined || ts > lastTs)) lastTs = ts;
            if (line.includes(' heroku[logplex]: Error L11 ')) cutOff = true;
            o.onLine(line);
          }
        }
        reason = 'the stream ended';
      } catch (err) {
        if (o.signal?.aborted) return 'aborted';
        reason = `the stream broke: ${(err as Error).message}`;
      }
      if (cutOff) return 'cut-off';
      lastTs ??= Date.now() * 1000;
    }
    // Try the next URL, with a growing pause once every URL has failed in a row.
    brokeAt ??= Date.now();
    if (Date.now() - brokeAt > (o.retryForMs ?? 60_000)) throw new LogClientError(`log stream lost and not resumed: ${reason}`);
    urlIndex++;
    if (urlIndex % urls.length === 0) {
      await new Promise((r) => setTimeout(r, backoff.next()));
    }
  }
}
