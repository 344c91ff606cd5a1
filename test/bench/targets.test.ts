/**
 * The bench's moving parts against real processes: backends, nginx, HAProxy and the
 * router start, answer through the proxy, and leave nothing running. No speed is asserted.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { startBackend, type Backend } from '../../bench/backends/index.ts';
import { planPlacement } from '../../bench/placement.ts';
import { nginx, findBinary } from '../../bench/targets/nginx.ts';
import { haproxy } from '../../bench/targets/haproxy.ts';
import { caddy } from '../../bench/targets/caddy.ts';
import { direct } from '../../bench/targets/direct.ts';
import { floor } from '../../bench/targets/floor.ts';
import { router, closeRouterEnv, routerUnavailableReason } from '../../bench/targets/router.ts';
import { BENCH_HOST, type Target } from '../../bench/targets/target.ts';
import { OpenLoopGenerator } from '../../bench/load/openloop.ts';
import { buildRequest } from '../../bench/load/http1.ts';
import { runWrk } from '../../bench/load/wrk.ts';

const dir = mkdtempSync(join(tmpdir(), 'bench-test-'));
const placement = planPlacement();
after(async () => {
  await closeRouterEnv();
  rmSync(dir, { recursive: true, force: true });
});

function get(port: number, path: string, body?: Buffer): Promise<{ status: number; backend: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET', headers: { host: BENCH_HOST }, agent: false }, (res) => {
      let s = '';
      res.setEncoding('latin1').on('data', (d: string) => { s += d; });
      res.on('end', () => resolve({ status: res.statusCode!, backend: String(res.headers['x-backend']), body: s }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function throughTarget(t: Target, backend: Backend): Promise<void> {
  const running = await t.start({ placement, backend, dir, routerWorkers: 1 });
  const pids = Object.values(running.pids);
  try {
    const hello = await get(running.port, '/hello');
    assert.deepEqual([hello.status, hello.body, hello.backend], [200, 'Hello, World!', backend.id]);
    assert.equal((await get(running.port, '/16k')).body.length, 16 * 1024);
    assert.equal((await get(running.port, '/1m')).body.length, 1024 * 1024);
    assert.equal((await get(running.port, '/upload', Buffer.alloc(64 * 1024, 'x'))).body, `received ${64 * 1024}`);
  } finally {
    await running.stop();
  }
  for (const pid of pids) assert.equal(alive(pid), false, `${t.name} pid ${pid} still running after stop()`);
}

for (const kind of ['uws', 'node'] as const) {
  describe(`${kind} backend`, () => {
    test('serves 13 B, 16 KB, 1 MB and reads a 64 KB POST; stops for good', async () => {
      const b = await startBackend(kind, placement.backend, dir);
      try {
        await throughTarget(direct, b);
      } finally {
        await b.stop();
      }
      assert.equal(alive(b.pid), false);
    });
  });
}

describe('proxies in front of the uWS backend', () => {
  for (const t of [nginx, haproxy, caddy]) {
    test(`${t.name}: own config under a temp dir, proxies every scenario, leaves no process`, { skip: findBinary(t.name) ? false : `${t.name} not installed` }, async () => {
      const b = await startBackend('uws', placement.backend, dir);
      try {
        await throughTarget(t, b);
      } finally {
        await b.stop();
      }
    });
  }

  test('floor: the router\'s stack with none of its work forwards GETs and their bodies, leaves no process', async () => {
    const b = await startBackend('uws', placement.backend, dir);
    try {
      const running = await floor.start({ placement, backend: b, dir, routerWorkers: 1 });
      try {
        for (let i = 0; i < 3; i++) assert.deepEqual(await get(running.port, '/hello').then((r) => [r.status, r.body]), [200, 'Hello, World!']);
        assert.equal((await get(running.port, '/16k')).body.length, 16 * 1024);
      } finally {
        await running.stop();
      }
      for (const pid of Object.values(running.pids)) assert.equal(alive(pid), false);
    } finally {
      await b.stop();
    }
  });

  const why = routerUnavailableReason();
  test('router: real etcd with RoutingApp + Endpoint records, routes by Host', { skip: why ?? false }, async () => {
    const b = await startBackend('uws', placement.backend, dir);
    try {
      await throughTarget(router, b);
    } finally {
      await b.stop();
    }
  });
});

describe('load generators (correctness only)', () => {
  test('open loop sends at the asked rate from intended times, and counts every response', async () => {
    const b = await startBackend('uws', placement.backend, dir);
    const gen = new OpenLoopGenerator(1);
    try {
      const r = await gen.run({ port: b.port, request: buildRequest('GET', '/hello', BENCH_HOST), rate: 200, connections: 4, durationMs: 1000, warmupMs: 200, threads: 1 });
      assert.equal(r.mode, 'open');
      assert.ok(Math.abs(r.requests - 200) <= 2, `expected ~200 requests in 1 s at 200/s, got ${r.requests}`);
      assert.equal(r.errors + r.non2xx + (r.timeouts ?? 0), 0);
      assert.ok(r.p50_ms > 0 && r.p50_ms <= r.p99_ms && r.p99_ms <= r.max_ms);
      assert.ok(r.bytes_per_s > r.rps * 13, "bytes include heads and the 13 B body");
      assert.ok(r.loadgen_cpu_pct! >= 0);
    } finally {
      await gen.close();
      await b.stop();
    }
  });

  test('wrk runs pinned, parses, and reports its own CPU', { skip: findBinary('wrk') ? false : 'wrk not installed' }, async () => {
    const b = await startBackend('uws', placement.backend, dir);
    try {
      const r = await runWrk({ port: b.port, path: '/hello', host: BENCH_HOST, connections: 2, durationS: 1, threads: 1, core: placement.loadgen, scriptDir: dir }, 0);
      assert.equal(r.mode, 'closed');
      assert.ok(r.requests > 0);
      assert.equal(r.errors + r.non2xx, 0);
      assert.ok(Number.isFinite(r.p999_ms), 'the Lua hook gives p99.9');
      assert.ok(Number.isFinite(r.loadgen_cpu_pct!));
    } finally {
      await b.stop();
    }
  });
});
