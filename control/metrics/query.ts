/**
 * `since` and `step` of `GET /apps/:app/metrics`: since is an ISO time or
 * negative seconds from now (default -3600), step seconds, a multiple of 60
 * (default 60). The window ends with the step that holds now; it starts at most
 * the retention ago and holds at most MAX_POINTS steps.
 */
import { invalid } from '../errors.ts';

export const MAX_POINTS = 1500;

export interface Window {
  /** unix seconds, a multiple of step. */
  since: number;
  until: number;
  step: number;
  count: number;
}

export function parseWindow(sinceParam: string | null, stepParam: string | null, nowMs: number, retentionS: number): Window {
  const step = stepParam === null || stepParam === '' ? 60 : Number(stepParam);
  if (!Number.isInteger(step) || step < 60 || step % 60 !== 0 || step > 86_400) throw invalid('step must be seconds, a multiple of 60 between 60 and 86400 (e.g. 60, 300, 3600)');
  const nowS = Math.floor(nowMs / 1000);
  let sinceS: number;
  if (sinceParam === null || sinceParam === '') sinceS = nowS - 3600;
  else if (/^-\d+$/.test(sinceParam)) sinceS = nowS + Number(sinceParam);
  else {
    const t = Date.parse(sinceParam);
    if (Number.isNaN(t) || !/^\d{4}-\d\d-\d\d/.test(sinceParam)) throw invalid('since must be an ISO time (2026-12-03T15:00:00Z) or negative seconds (-3600)');
    sinceS = Math.floor(t / 1000);
  }
  const until = Math.floor(nowS / step) * step + step;
  sinceS = Math.max(sinceS, nowS - retentionS);
  // As many steps as the asked duration spans, ending with the step that holds now.
  const count = Math.min(MAX_POINTS, Math.max(1, Math.ceil((nowS - sinceS) / step)));
  const since = until - count * step;
  return { since, until, step, count };
}
