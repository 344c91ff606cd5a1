import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summarize, toJson, writeReport, renderReport, type Report } from '../../bench/report.ts';
import { mergeOpenLoop } from '../../bench/load/openloop.ts';
import type { LoadResult } from '../../bench/load/result.ts';
import * as hdr from 'hdr-histogram-js';

function run(rps: number, p99: number, extra: Partial<LoadResult> = {}): LoadResult {
  return { mode: 'closed', requests: rps * 10, duration_s: 10, rps, bytes_per_s: rps * 100, p50_ms: p99 / 2, p90_ms: p99 * 0.8, p99_ms: p99,
    p999_ms: p99 * 2, max_ms: p99 * 3, errors: 0, non2xx: 0, loadgen_cpu_pct: 50, proxy_cpu_pct: 99, ...extra };
}

function sample(): Report {
  const hello = summarize({
    router: [run(90_000, 1.2), run(110_000, 1.0), run(100_000, 1.1)],
    nginx: [run(100_000, 1.3), run(95_000, 1.2), run(105_000, 1.4)],
    haproxy: [run(90_000, 1.0)],
    direct: [run(200_000, 0.5), run(190_000, 0.6), run(210_000, 0.4)],
  });
  return {
    machine: { cpu: 'test cpu', cores: 2, date: '2026-11-26T00:00:00Z' },
    config: { rounds: 3 },
    scenarios: { hello },
    open_loop: { hello: {} },
    propagation_ms: { p50: 2.5, p99: 9, max: 10, changes: 100, failed: 0, poll_rtt_ms: 0.3 },
    balance: { dynos: 10, keys: 100000, max_over_mean: 1.2, min_over_mean: 0.8, moved_fraction: 0.1, moved_from_removed: 1, ideal_moved_fraction: 0.1 },
    unavailable: {},
    notes: [],
  };
}

describe('report', () => {
  test('medians over rounds, spread, and ratios to nginx and to direct', () => {
    const h = sample().scenarios.hello!;
    assert.equal(h.router!.rps, 100_000);
    assert.equal(h.router!.p99_ms, 1.1);
    assert.equal(h.router!.rounds, 3);
    assert.deepEqual(h.router!.spread.rps, { min: 90_000, max: 110_000, rel: 0.2, n: 3 });
    assert.equal(h.router!.ratio_to_nginx, 1);
    assert.equal(h.router!.ratio_to_direct, 0.5);
    assert.equal(h.nginx!.ratio_to_nginx, 1);
    assert.equal(h.direct!.ratio_to_direct, 1);
    assert.equal(h.haproxy!.ratio_to_nginx, 0.9);
  });

  test('proxy CPU per request in µs, per run then the median, and the router over floor', () => {
    // 99% of a core at 100k req/s is 9.9 µs a request; 50% at 50k/s, 10 µs.
    const s = summarize({
      router: [run(50_000, 1, { proxy_cpu_pct: 100 }), run(40_000, 1, { proxy_cpu_pct: 100 }), run(60_000, 1, { proxy_cpu_pct: 90 })],
      floor: [run(100_000, 1, { proxy_cpu_pct: 100 })],
      direct: [run(200_000, 1, { proxy_cpu_pct: undefined })],
    });
    assert.equal(s.router!.proxy_us_per_req, 20);
    assert.equal(s.floor!.proxy_us_per_req, 10);
    assert.equal(s.router!.cpu_ratio_to_floor, 2);
    assert.equal(s.direct!.proxy_us_per_req, undefined, 'no proxy, no figure');
    const text = renderReport({ ...sample(), scenarios: { hello: s } }, { hello: 'GET 13 B' });
    assert.match(text, /µs cpu\/req/);
    assert.match(text, /router: 20\.0 µs cpu\/req = 2\.00x floor's 10\.0/);
  });

  test('large-body scenarios compare bytes/s, not req/s', () => {
    const s = summarize({ router: [run(1000, 1, { bytes_per_s: 3e9 })], nginx: [run(2000, 1, { bytes_per_s: 2e9 })] }, true);
    assert.equal(s.router!.ratio_to_nginx, 1.5);
    assert.ok(Number.isNaN(s.router!.ratio_to_direct), 'no direct run: no ratio');
  });

  test('the JSON has the agreed shape, and missing figures are null', () => {
    const r = sample();
    r.scenarios.hello!.router!.p999_ms = NaN;
    const dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
    try {
      const file = join(dir, 'results', 'latest.json');
      writeReport(file, r);
      const j = JSON.parse(readFileSync(file, 'utf8'));
      assert.equal(typeof j.machine, 'object');
      for (const t of ['router', 'nginx', 'haproxy', 'direct']) {
        for (const k of ['rps', 'p50_ms', 'p99_ms']) assert.equal(typeof j.scenarios.hello[t][k], 'number', `${t}.${k}`);
      }
      assert.equal(j.scenarios.hello.router.p999_ms, null);
      assert.equal(typeof j.propagation_ms.p50, 'number');
      assert.equal(typeof j.propagation_ms.p99, 'number');
      assert.equal(typeof j.balance.max_over_mean, 'number');
      assert.equal(typeof j.balance.moved_fraction, 'number');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.doesNotMatch(toJson(r), /NaN/);
  });

  test('the human table names every target, ratio and the unavailable ones', () => {
    const r = sample();
    r.unavailable['router-2w'] = 'router-2w: this router build has no --workers option yet';
    r.propagation_ms = { p50: null, p99: null, reason: 'router not selected' };
    const out = renderReport(r, { hello: 'GET 13 B' });
    for (const t of ['router', 'nginx', 'haproxy', 'direct']) assert.match(out, new RegExp(`\\| ${t} `));
    assert.match(out, /x nginx/);
    assert.match(out, /100,000/);
    assert.match(out, /NOT RUN router-2w/);
    assert.match(out, /not measured: router not selected/);
  });

  test('open-loop parts from several threads merge into one histogram', () => {
    const part = (values: number[]) => {
      const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
      for (const v of values) h.recordValue(v);
      const enc = hdr.encodeIntoCompressedBase64(h);
      h.destroy();
      return { corrected: enc, uncorrected: enc, completed: values.length, inWindow: values.length, errors: 0, non2xx: 1, timeouts: 0, bytes: values.length * 100, maxQueued: 3, measuredMs: 1000 };
    };
    const r = mergeOpenLoop([part(Array(99).fill(1000)), part([50_000])], 100, 12.5);
    assert.equal(r.mode, 'open');
    assert.equal(r.requests, 100);
    assert.equal(r.rps, 100);
    assert.equal(r.bytes_per_s, 10_000);
    assert.equal(r.p50_ms, 1);
    assert.ok(Math.abs(r.max_ms - 50) < 0.05, `max ${r.max_ms}`); // 3 significant digits
    assert.equal(r.non2xx, 2);
    assert.equal(r.max_queued, 3);
    assert.equal(r.target_rate, 100);
    assert.equal(r.loadgen_cpu_pct, 12.5);
  });
});
