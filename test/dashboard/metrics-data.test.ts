/** The metrics tab's data shaping (dashboard/src/metrics-data.ts): columns per chart and the words under each. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seconds, shape, type MetricsJson, type Point } from '../../dashboard/src/metrics-data.ts';

const point = (minute: number, p: Partial<Point>): Point => ({
  time: new Date(Date.UTC(2026, 11, 3, 10, minute)).toISOString(),
  requests: 0, status: {}, errors: {}, responseTimeMs: null, memory: null, cpuPct: null, ...p,
});

const metrics: MetricsJson = {
  app: 'hello', step: 60, since: '2026-12-03T10:00:00Z', until: '2026-12-03T10:03:00Z',
  points: [
    point(0, { requests: 100, status: { '2xx': 95, '5xx': 5 }, errors: { H12: 2 }, responseTimeMs: { p50: 3, p95: 12, p99: 40 }, memory: { rssMb: 80, swapMb: 0, quotaMb: 512 }, cpuPct: 12.5 }),
    point(1, {}),
    point(2, { requests: 7, status: { '2xx': 6, '4xx': 1 }, errors: { H10: 1 }, responseTimeMs: { p50: 2, p95: 5, p99: 9 } }),
  ],
};

test('times are seconds whether the API sends ISO text, seconds or milliseconds', () => {
  assert.equal(seconds('2026-12-03T10:00:00.000Z'), Date.UTC(2026, 11, 3, 10) / 1000);
  assert.equal(seconds(1_796_292_000), 1_796_292_000);
  assert.equal(seconds(1_796_292_000_000), 1_796_292_000);
});

test('each chart gets one column per series, aligned on the points, gaps where nothing was measured', () => {
  const c = shape(metrics);
  const x = c.response.data[0];
  assert.deepEqual([...x], metrics.points.map((p) => seconds(p.time)));
  assert.deepEqual(c.response.data.slice(1).map((col) => [...col]), [[3, null, 2], [12, null, 5], [40, null, 9]]);
  assert.deepEqual([...c.throughput.data[1]], [100, 0, 7]);
  assert.deepEqual([...c.throughput.data[2]], [95, 0, 6]);
  assert.deepEqual([...c.memory.data[1]], [80, null, null]);
  assert.deepEqual([...c.cpu.data[1]], [12.5, null, null]);
  // 4xx, 5xx, then every H code seen in the range, in order
  assert.deepEqual(c.errors.series.map((s) => s.label), ['4xx', '5xx', 'H10', 'H12']);
  assert.deepEqual(c.errors.data.slice(1).map((col) => [...col]), [[0, 0, 1], [5, 0, 0], [0, 0, 1], [2, 0, 0]]);
});

test('the words under the charts say the totals and the latest figures', () => {
  const c = shape(metrics);
  assert.equal(c.throughput.summary, '107 requests in this range; the latest minute with traffic had 7');
  assert.equal(c.throughput.total, 107);
  assert.equal(c.response.summary, 'latest: p50 2 ms, p95 5 ms, p99 9 ms');
  assert.equal(c.memory.summary, 'latest: 80 MB resident, 0 MB swap, quota 512 MB');
  assert.equal(c.errors.summary, '5 server errors (5xx) in this range; H10: 1, H12: 2');
  const empty = shape({ ...metrics, points: [point(0, {})] });
  assert.equal(empty.response.summary, 'no requests in this range');
  assert.equal(empty.memory.summary, 'no memory samples in this range');
});
