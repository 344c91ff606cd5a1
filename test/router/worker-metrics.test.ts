/**
 * The router's Prometheus metrics summed over its worker threads.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../router/metrics.ts';
import { TableBuilder } from '../../router/table/builder.ts';

describe('workers metrics', () => {
  test('Metrics.sum adds every counter; per-worker requests are rendered', () => {
    const a = new Metrics();
    a.response(200, 3);
    a.response(503, 30_000);
    a.error('H12');
    a.inFlight = 2;
    const b = new Metrics();
    b.response(204, 40);
    b.websocketsTotal = 3;
    b.error('H12');
    b.bytesOut = 10;
    const sum = Metrics.sum([a.snapshot(), b.snapshot()]);
    assert.deepEqual(sum.byClass, [0, 0, 2, 0, 0, 1]);
    assert.equal(sum.byCode.get('H12'), 2);
    assert.equal(sum.inFlight, 2);
    assert.equal(sum.bytesOut, 10);
    const text = sum.render(new TableBuilder({ baseDomain: 'localhost', defaultBalanceFactor: 1.25 }).table, { connected: true, syncedAt: 0, disconnectedSince: 0 }, false, [a.snapshot(), b.snapshot()]);
    assert.match(text, /dynomesh_router_worker_requests_total\{worker="1"\} 2\n/);
    assert.match(text, /dynomesh_router_worker_requests_total\{worker="2"\} 1\n/);
    // the duration histogram: cumulative buckets per class, sums in seconds
    assert.match(text, /# TYPE dynomesh_router_request_duration_seconds histogram\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_bucket\{class="2xx",le="0.005"\} 1\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_bucket\{class="2xx",le="0.025"\} 1\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_bucket\{class="2xx",le="0.05"\} 2\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_bucket\{class="2xx",le="\+Inf"\} 2\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_sum\{class="2xx"\} 0.043\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_bucket\{class="5xx",le="10"\} 0\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_bucket\{class="5xx",le="30"\} 1\n/);
    assert.match(text, /dynomesh_router_request_duration_seconds_count\{class="5xx"\} 1\n/);
    assert.match(text, /dynomesh_router_websockets_total 3\n/);
  });
});
