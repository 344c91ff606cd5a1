/**
 * Per-app request metrics (issue 19): each router thread counts, per app and
 * per minute, requests, status classes, Heroku error codes and a response-time
 * histogram (lib/histogram.ts), and every few seconds hands what it counted
 * since the last time to its log sink as metric samples (logplex/metrics.ts).
 * The app's log owner adds up every router's samples. The hot path is a Map
 * lookup and a few increments; nothing is allocated per request once an app
 * has its bucket for the minute.
 */
import { Histogram } from '../lib/histogram.ts';
import { minuteOf, type RouterSample } from '../logplex/metrics.ts';
import type { LogSink } from './log-line.ts';

interface Bucket {
  m: number;
  n: number;
  s: number[];
  e: Record<string, number>;
  h: Histogram;
}

const bucket = (m: number): Bucket => ({ m, n: 0, s: [0, 0, 0, 0, 0], e: {}, h: new Histogram() });

/** How often a router thread ships its samples. */
export const SAMPLE_EVERY_MS = 5000;

export class AppMeter {
  private open = new Map<string, Bucket>();
  /** Buckets of a minute that ended before they were shipped. */
  private closed: Array<[string, Bucket]> = [];

  /**
   * One request of `app` that ended: `status` 0 when no response was sent (client gone),
   * `ms` its service time, `code` a Heroku error code or null.
   */
  record(app: string, status: number, ms: number, code: string | null, now = Date.now()): void {
    const m = minuteOf(now);
    let b = this.open.get(app);
    if (b === undefined || b.m !== m) {
      if (b !== undefined && b.n > 0) this.closed.push([app, b]);
      b = bucket(m);
      this.open.set(app, b);
    }
    b.n++;
    const c = (status / 100) | 0;
    if (c >= 1 && c <= 5) {
      b.s[c - 1]!++;
      b.h.record(ms);
    }
    if (code !== null) b.e[code] = (b.e[code] ?? 0) + 1;
  }

  /** What was counted since the last call, one sample per app and minute; the meter starts over. */
  drain(): Array<[string, RouterSample]> {
    const out: Array<[string, RouterSample]> = [];
    const emit = (app: string, b: Bucket) => out.push([app, { k: 'r', m: b.m, n: b.n, s: b.s, e: b.e, h: b.h.toWire() }]);
    for (const [app, b] of this.closed) emit(app, b);
    this.closed = [];
    for (const [app, b] of this.open) if (b.n > 0) emit(app, b);
    this.open = new Map();
    return out;
  }
}

/** Ships a meter's samples to `sink` every SAMPLE_EVERY_MS; call the result to ship the rest and stop. */
export function shipSamples(meter: AppMeter, sink: LogSink, everyMs = SAMPLE_EVERY_MS): () => void {
  const ship = () => {
    if (!sink.sample) return;
    for (const [app, s] of meter.drain()) sink.sample(app, JSON.stringify(s));
  };
  const timer = setInterval(ship, everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    ship();
  };
}
