/**
 * Per-app metrics without I/O: the router's meter, sample lines and who may
 * send them, how minutes add up, the API's window and points.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AppMeter } from '../../router/app-meter.ts';
import { parseSample, type RouterSample } from '../../logplex/metrics.ts';
import { mayWrite } from '../../control/logs/producer-policy.ts';
import { addSample, emptyMinute, mergeMinutes, toPoints } from '../../control/metrics/minute.ts';
import { parseWindow } from '../../control/metrics/query.ts';
import { Histogram } from '../../lib/histogram.ts';

const T0 = Date.UTC(2026, 11, 3, 15, 0, 10);

describe('router meter', () => {
  test('counts per app and minute; a drain returns what was counted since the last one', () => {
    const m = new AppMeter();
    for (let i = 0; i < 100; i++) m.record('hello', i < 95 ? 200 : 503, 10 + i, i >= 95 ? 'H13' : null, T0);
    m.record('other', 404, 1, null, T0);
    m.record('hello', 200, 5, null, T0 + 60_000); // next minute
    const out = new Map(m.drain().map(([app, s]) => [`${app}@${s.m}`, s]));
    const first = out.get(`hello@${Date.UTC(2026, 11, 3, 15, 0) / 1000}`)!;
    assert.equal(first.n, 100);
    assert.deepEqual(first.s, [0, 95, 0, 0, 5]);
    assert.deepEqual(first.e, { H13: 5 });
    assert.equal(Histogram.fromWire(first.h).count, 100);
    assert.equal(out.get(`hello@${Date.UTC(2026, 11, 3, 15, 1) / 1000}`)!.n, 1);
    assert.equal(out.size, 3);
    assert.deepEqual(m.drain(), []);
  });

  test('a request with no response counts as a request, not a status or a time', () => {
    const m = new AppMeter();
    m.record('hello', 0, 3, 'H27', T0);
    const [[, s]] = m.drain() as [[string, RouterSample]];
    assert.equal(s.n, 1);
    assert.deepEqual(s.s, [0, 0, 0, 0, 0]);
    assert.deepEqual(s.h, []);
  });
});

describe('samples on the log transport', () => {
  const r = JSON.stringify({ k: 'r', m: 60, n: 1, s: [0, 1, 0, 0, 0], e: {}, h: [20, 1] });
  const d = JSON.stringify({ k: 'd', m: 60, d: 'web.1', rss: 80.5, swap: 0, quota: 512, cpu: -1, r14: 0 });

  test('well-formed samples parse; junk does not', () => {
    assert.equal(parseSample(r)?.k, 'r');
    assert.equal(parseSample(d)?.k, 'd');
    for (const bad of ['nope', '{}', '{"k":"r","m":61,"n":1,"s":[0,0,0,0,0],"e":{},"h":[]}', '{"k":"r","m":60,"n":-1,"s":[0,0,0,0,0],"e":{},"h":[]}',
      '{"k":"r","m":60,"n":1,"s":[0,0,0,0,0],"e":{"<script>":1},"h":[]}', '{"k":"d","m":60,"d":"../x","rss":1,"swap":0,"quota":1,"cpu":0,"r14":0}',
      '{"k":"d","m":60,"d":"web.1","rss":"1","swap":0,"quota":1,"cpu":0,"r14":0}']) {
      assert.equal(parseSample(bad), undefined, bad);
    }
  });

  test('a router sends only request samples, a node only dyno samples', () => {
    assert.equal(mayWrite('router', ['a', 'heroku', 'metrics', 1, r]), true);
    assert.equal(mayWrite('router', ['a', 'heroku', 'metrics', 1, d]), false);
    assert.equal(mayWrite('node', ['a', 'heroku', 'metrics', 1, d]), true);
    assert.equal(mayWrite('node', ['a', 'heroku', 'metrics', 1, r]), false);
    assert.equal(mayWrite('node', ['a', 'app', 'metrics', 1, d]), false);
  });
});

describe('minutes and points', () => {
  const m0 = Date.UTC(2026, 11, 3, 15, 0) / 1000;

  test('router samples add up; dyno readings keep their maximum and R14 events add up', () => {
    const a = emptyMinute('hello', m0);
    addSample(a, { k: 'r', m: m0, n: 10, s: [0, 9, 0, 0, 1], e: { H12: 1 }, h: [100, 10] });
    addSample(a, { k: 'd', m: m0, d: 'web.1', rss: 80, swap: 0, quota: 512, cpu: 3, r14: 0 });
    const b = emptyMinute('hello', m0);
    addSample(b, { k: 'r', m: m0, n: 5, s: [0, 5, 0, 0, 0], e: { H12: 2, H13: 1 }, h: [100, 5] });
    addSample(b, { k: 'd', m: m0, d: 'web.1', rss: 120, swap: 1, quota: 512, cpu: 1, r14: 2 });
    const m = mergeMinutes(a, b);
    assert.equal(m.requests, 15);
    assert.deepEqual(m.status, [0, 14, 0, 0, 1]);
    assert.deepEqual(m.errors, { H12: 3, H13: 1 });
    assert.deepEqual(m.hist, [100, 15]);
    assert.deepEqual(m.dynos['web.1'], [120, 1, 512, 3, 2]);
  });

  test('one point per step, oldest first, labelled with the step end; empty steps carry nulls', () => {
    const a = emptyMinute('hello', m0 + 120);
    addSample(a, { k: 'r', m: m0 + 120, n: 2, s: [0, 2, 0, 0, 0], e: {}, h: [100, 2] });
    addSample(a, { k: 'd', m: m0 + 120, d: 'web.2', rss: 50, swap: 0, quota: 512, cpu: -1, r14: 0 });
    const pts = toPoints('hello', [a], m0, 60, 5);
    assert.equal(pts.length, 5);
    assert.equal(pts[0]!.time, '2026-12-03T15:01:00.000Z');
    assert.deepEqual(pts.map((p) => p.requests), [0, 0, 2, 0, 0]);
    assert.equal(pts[0]!.responseTimeMs, null);
    assert.equal(pts[0]!.memory, null);
    assert.equal(pts[2]!.responseTimeMs!.p95 > 0, true);
    assert.deepEqual(pts[2]!.memory, { rssMb: 50, swapMb: 0, quotaMb: 512 });
    assert.equal(pts[2]!.cpuPct, null);
    assert.deepEqual(pts[2]!.dynos['web.2'], { rssMb: 50, swapMb: 0, quotaMb: 512, cpuPct: null, r14: 0 });
    // Five-minute steps merge five minutes each.
    const wide = toPoints('hello', [a], m0, 300, 1);
    assert.equal(wide[0]!.requests, 2);
  });

  test('the window: defaults, ISO or negative seconds, bounded by retention and point count', () => {
    const now = Date.UTC(2026, 11, 3, 15, 59, 30);
    const w = parseWindow(null, null, now, 26 * 3600);
    assert.deepEqual([new Date(w.since * 1000).toISOString(), new Date(w.until * 1000).toISOString(), w.step, w.count], ['2026-12-03T15:00:00.000Z', '2026-12-03T16:00:00.000Z', 60, 60]);
    assert.equal(parseWindow('2026-12-03T15:30:00Z', '300', now, 26 * 3600).count, 6);
    assert.equal(parseWindow('-86400000', null, now, 26 * 3600).count, 1500);
    assert.throws(() => parseWindow(null, '90', now, 3600), /multiple of 60/);
    assert.throws(() => parseWindow('yesterday', null, now, 3600), /ISO time/);
  });
});
