import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrk, parseWrkDuration, parseWrkBytes, parseTimes, wrkArgs, wrkScript } from '../../bench/load/wrk.ts';

const TEXT = `Running 10s test @ http://127.0.0.1:8080/hello
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   574.23us  123.45us   5.67ms   89.00%
    Req/Sec   100.56k     3.21k  105.00k    70.00%
  Latency Distribution
     50%  560.00us
     75%  600.00us
     90%  650.00us
     99%    1.17ms
  1005580 requests in 10.00s, 120.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 5
Requests/sec: 100558.00
Transfer/sec:     12.00MB
`;

const HOOK = `DM_RESULT requests=1005580 duration_us=10000000 bytes=125829120 connect=0 read=2 write=0 status=5 timeout=3
DM_PCT 50 560
DM_PCT 90 650
DM_PCT 99 1170
DM_PCT 99.9 2345
DM_PCT max 5670
DM_TIMES
0m0.000s 0m0.002s
0m2.500s 0m4.250s
`;

describe('wrk output', () => {
  test('units of durations and sizes', () => {
    assert.equal(parseWrkDuration('560.00us'), 0.56);
    assert.equal(parseWrkDuration('1.17ms'), 1.17);
    assert.equal(parseWrkDuration('2.00s'), 2000);
    assert.equal(parseWrkDuration('1.00m'), 60_000);
    assert.equal(parseWrkBytes('12.00MB'), 12 * 1024 * 1024);
    assert.equal(parseWrkBytes('512.00B'), 512);
    assert.throws(() => parseWrkDuration('fast'), /cannot read wrk duration/);
  });

  test('the standard text alone (no Lua hook): percentiles, errors, throughput', () => {
    const r = parseWrk(TEXT);
    assert.equal(r.mode, 'closed');
    assert.equal(r.requests, 1005580);
    assert.equal(r.duration_s, 10);
    assert.equal(r.rps, 100558);
    assert.equal(r.p50_ms, 0.56);
    assert.equal(r.p90_ms, 0.65);
    assert.equal(r.p99_ms, 1.17);
    assert.ok(Number.isNaN(r.p999_ms), 'the text has no p99.9');
    assert.equal(r.max_ms, 5.67);
    assert.equal(r.errors, 5);
    assert.equal(r.non2xx, 5);
    assert.equal(r.bytes_per_s, 12 * 1024 * 1024);
  });

  test('the Lua hook lines win over the rounded text', () => {
    const r = parseWrk(TEXT + HOOK);
    assert.equal(r.requests, 1005580);
    assert.equal(r.duration_s, 10);
    assert.equal(r.rps, 100558);
    assert.equal(r.bytes_per_s, 12582912);
    assert.equal(r.p999_ms, 2.345);
    assert.equal(r.p99_ms, 1.17);
    assert.equal(r.max_ms, 5.67);
    assert.equal(r.errors, 5); // connect + read + write + timeout
    assert.equal(r.non2xx, 5);
  });

  test('wrk CPU comes from the children line of `times`', () => {
    assert.equal(parseTimes(TEXT + HOOK), 6.75);
    assert.ok(Number.isNaN(parseTimes(TEXT)));
  });

  test('no results is an error, not zeros', () => {
    assert.throws(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused\n'), /no results/);
  });
});

describe('wrk invocation', () => {
  const base = { port: 8080, path: '/hello', host: 'bench.localhost', connections: 64, durationS: 10, threads: 1, core: '0', scriptDir: '/tmp' };

  test('same Host header for every target, latency on, one script', () => {
    const a = wrkArgs(base, '/tmp/s.lua');
    assert.deepEqual(a.slice(0, 4), ['-t1', '-c64', '-d10s', '--latency']);
    assert.ok(a.includes('Host: bench.localhost'));
    assert.equal(a.at(-1), 'http://127.0.0.1:8080/hello');
    assert.ok(!a.includes('Connection: close'));
  });

  test('new connection per request asks the server to close', () => {
    assert.ok(wrkArgs({ ...base, closeEach: true }, '/tmp/s.lua').includes('Connection: close'));
    assert.deepEqual(wrkArgs(base, '/tmp/s.lua', 2).slice(2, 3), ['-d2s']);
  });

  test('the POST script carries the body; the GET one only the done hook', () => {
    const post = wrkScript({ method: 'POST', bodyBytes: 65536 });
    assert.match(post, /wrk\.method = "POST"/);
    assert.match(post, /string\.rep\("x", 65536\)/);
    assert.match(post, /done = function/);
    const get = wrkScript({});
    assert.doesNotMatch(get, /wrk\.method/);
    assert.doesNotMatch(get, /request = function/, 'a request() hook would make wrk build every request in Lua');
  });
});
