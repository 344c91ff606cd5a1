/**
 * One open-loop load thread (run by piscina): `connections` keep-alive sockets, requests
 * paced at `rate`/s from fixed intended times, latency recorded from the intended time
 * into an HdrHistogram (microseconds). Never pipelines: uWS-based proxies abort a
 * connection that pipelines while a response is pending.
 */
import { connect, type Socket } from 'node:net';
import * as hdr from 'hdr-histogram-js';
import { ResponseParser } from './http1.ts';
import { OpenLoopSchedule, correctedLatencyUs, type Slot } from './schedule.ts';

export interface OpenLoopTask {
  port: number;
  host: string;
  request: Uint8Array;
  rate: number;
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** Give in-flight requests this long after the end before counting them as timeouts. */
  graceMs: number;
}

export interface OpenLoopPart {
  /** Corrected latencies (from intended send), base64 HdrHistogram, microseconds. */
  corrected: string;
  /** Latencies from the actual send (what a closed-loop tool would report). */
  uncorrected: string;
  /** Responses to requests intended inside the window (each has a latency). */
  completed: number;
  /** Responses that arrived inside the window (throughput). */
  inWindow: number;
  errors: number;
  non2xx: number;
  timeouts: number;
  bytes: number;
  maxQueued: number;
  measuredMs: number;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Longest the thread blocks without reading sockets: the resolution of completion times. */
const MAX_BLIND_MS = 0.05;
const newHist = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });

export default async function run(task: OpenLoopTask): Promise<OpenLoopPart> {
  const corrected = newHist();
  const uncorrected = newHist();
  const request = Buffer.from(task.request);
  const t0 = performance.now() + 50; // let every socket connect first
  const measureFrom = t0 + task.warmupMs;
  const endAt = measureFrom + task.durationMs;
  const sched = new OpenLoopSchedule(t0, task.rate, endAt);
  let completed = 0, inWindow = 0, errors = 0, non2xx = 0, bytes = 0, inflight = 0;
  const sockets: Socket[] = [];

  const conn = (): void => {
    const sock = connect({ port: task.port, host: task.host, noDelay: true });
    sockets.push(sock);
    let intended = 0;
    let sentAt = 0;
    let busy = false;
    const slot: Slot = {
      send(t) {
        if (sock.destroyed) { if (t >= measureFrom) errors++; return; }
        intended = t;
        sentAt = performance.now();
        busy = true;
        inflight++;
        sock.write(request);
      },
    };
    const parser = new ResponseParser((status, n) => {
      const now = performance.now();
      busy = false;
      inflight--;
      if (now >= measureFrom && now <= endAt) {
        // Throughput counts what completed inside the window; latency counts every request intended in it.
        inWindow++;
        bytes += n;
      }
      if (intended >= measureFrom) {
        completed++;
        if (status < 200 || status >= 400) non2xx++;
        corrected.recordValue(correctedLatencyUs(intended, now));
        uncorrected.recordValue(correctedLatencyUs(sentAt, now));
      }
      sched.release(slot);
    });
    sock.on('data', (d: Buffer) => {
      try { parser.feed(d); } catch { errors++; sock.destroy(); }
    });
    sock.once('connect', () => sched.release(slot));
    sock.on('error', () => {});
    sock.once('close', () => {
      if (busy) { busy = false; inflight--; if (intended >= measureFrom) errors++; }
      // Reconnect while the run lasts, as wrk does; the lost request stays lost.
      if (performance.now() < endAt) setTimeout(conn, 10);
    });
  };
  for (let i = 0; i < task.connections; i++) conn();

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      sched.pump(now);
      const next = sched.nextDue;
      if (next === Infinity) { resolve(); return; }
      const wait = next - performance.now();
      // Never spin: the backend shares this core, and a spinning thread delays its wake-ups
      // by whole scheduler slices. Long gaps use a timer (ms resolution); short ones block
      // in a futex for exactly the gap, then let the event loop read what arrived meanwhile.
      // The block is capped so completion times are late by at most MAX_BLIND_MS.
      if (wait > 2) setTimeout(tick, wait - 1);
      else {
        if (wait > 0.01) Atomics.wait(sleeper, 0, 0, Math.min(wait, MAX_BLIND_MS));
        setImmediate(tick);
      }
    };
    tick();
  });
  const graceEnd = performance.now() + task.graceMs;
  while (inflight > 0 && performance.now() < graceEnd) await new Promise((r) => setTimeout(r, 5));
  const timeouts = inflight + sched.drainQueue().filter((t) => t >= measureFrom).length;
  for (const s of sockets) s.destroy();
  const part: OpenLoopPart = {
    corrected: hdr.encodeIntoCompressedBase64(corrected),
    uncorrected: hdr.encodeIntoCompressedBase64(uncorrected),
    completed, inWindow, errors, non2xx, timeouts, bytes, maxQueued: sched.maxQueued,
    measuredMs: task.durationMs,
  };
  corrected.destroy();
  uncorrected.destroy();
  return part;
}
