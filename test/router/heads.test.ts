/**
 * Issue 23: every well-formed request head up to the size limit gets a status
 * line however TCP segments it, and nothing ends in a silent close. Raw sockets
 * send heads of 2-16 KB in 1, 2 and 8 segments (a gap between writes, so the
 * router reads each segment on its own), HTTP/1.0, and many header lines, while
 * another client keeps requesting on its own connection the whole time.
 *
 * What the loaded uWS build answers before the router's handler runs comes from
 * router/uws-builds.ts (the router logs the same record at start as `uws-build`);
 * a case that build is known to leave without a status is reported as a TODO
 * naming the build, not hidden.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Cluster } from '../../cluster/client.ts';
import { useEtcd } from '../support/etcd.ts';
import { DEFAULT_MAX_HEAD_SIZE } from '../../router/limits.ts';
import { KNOWN_BUILDS } from '../../router/uws-builds.ts';
import { addApp, addEndpoint, agent, get, nameOf, startBackendWith, startRouter, type Backend, type RouterProc } from './helpers.ts';

const etcd = useEtcd();
const HOST = 'heads.localhost';

interface Answer {
  /** The status code of the first response, or null when none came. */
  status: number | null;
  /** Why the wait ended: a full response head, the server closing, or our own time limit. */
  end: 'response' | 'closed' | 'timeout';
  ms: number;
}

/** Writes `head` on a fresh connection in `segments` writes, `gapMs` apart; waits for a response head. */
function sendHead(port: number, head: Buffer, segments: number, waitMs = 3000, gapMs = 15): Promise<Answer> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.setNoDelay(true);
    const t0 = Date.now();
    let got = '';
    let done = false;
    const finish = (end: Answer['end']) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const m = /^HTTP\/1\.[01] (\d{3}) /.exec(got);
      resolve({ status: m ? Number(m[1]) : null, end, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish('timeout'), waitMs);
    s.on('data', (b: Buffer) => {
      got += b.toString('latin1');
      if (got.includes('\r\n\r\n')) finish('response');
    });
    s.on('error', () => finish('closed'));
    s.on('close', () => finish('closed'));
    s.on('connect', async () => {
      const step = Math.ceil(head.length / segments);
      for (let i = 0; i < head.length && !done; i += step) {
        s.write(head.subarray(i, i + step));
        if (i + step < head.length) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

/**
 * A GET head of exactly `size` bytes: Host plus filler headers of at most ~1000
 * bytes each (no line near the 8 KB line limit, so only the total size matters).
 */
function headOf(size: number, version = '1.1'): Buffer {
  const start = `GET /heads HTTP/${version}\r\nHost: ${HOST}\r\n`;
  let rest = size - start.length - 2;
  const lines: string[] = [];
  const count = Math.max(1, Math.ceil(rest / 1000));
  for (let i = 0; i < count; i++) {
    const len = Math.floor(rest / (count - i));
    const name = `X-Fill-${i}: `;
    lines.push(name + 'f'.repeat(len - name.length - 2) + '\r\n');
    rest -= len;
  }
  const head = Buffer.from(start + lines.join('') + '\r\n', 'latin1');
  assert.equal(head.length, size);
  return head;
}

/** A head with `n` header lines in all (Host is one of them). */
function headWithHeaders(n: number): Buffer {
  const lines = ['GET /heads HTTP/1.1', `Host: ${HOST}`];
  for (let i = 1; i < n; i++) lines.push(`X-H${i}: v${i}`);
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n');
}

/** Requests on one keep-alive connection every 20 ms until stopped; counts answers and failures. */
function backgroundClient(port: number) {
  let ok = 0;
  const failures: string[] = [];
  let running = true;
  const loop = (async () => {
    const deadline = Date.now() + 180_000; // bounded even if stop() is never called
    while (running && Date.now() < deadline) {
      try {
        const r = await get(port, HOST, '/', { agent });
        if (r.status === 200 && nameOf(r) === 'heads') ok++;
        else failures.push(`status ${r.status}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    get ok() {
      return ok;
    },
    failures,
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** The loaded build's measured limits, as the router logs them at start. */
function buildRecord(router: RouterProc): Record<string, unknown> {
  const rec = router.logs.find((r) => r.msg === 'uws-build');
  assert.ok(rec, 'the router logs uws-build at start');
  return rec;
}

const SIZES_KB = [2, 4, 6, 8, 16];
const SEGMENTS = [1, 2, 8];

describe('request heads: sizes, segments, HTTP/1.0, many headers (issue 23)', () => {
  let cluster: Cluster;
  let backend: Backend;
  let router: RouterProc;
  let small: RouterProc;
  let client: ReturnType<typeof backgroundClient>;

  before(async () => {
    cluster = etcd.cluster();
    // the router adds ~250 bytes of X-Forwarded-*, X-Request-Id/-Start and Via: a dyno on node's default
    // 16 KB limit would answer a 16 KB client head with its own 431
    backend = await startBackendWith('heads', ['--max-http-header-size=32768']);
    await addApp(cluster, 'heads');
    await addEndpoint(cluster, 'heads', 'web.1', backend.port);
    router = await startRouter(cluster);
    small = await startRouter(cluster, ['--max-head-size', '8k']);
    client = backgroundClient(router.port);
  });
  after(async () => {
    await client?.stop();
    await router?.stop();
    await small?.stop();
    await backend?.kill();
  });

  test('the router logs which uWS build it loaded and its head limits', () => {
    const rec = buildRecord(router);
    assert.equal(rec.maxHeadSize, DEFAULT_MAX_HEAD_SIZE);
    assert.match(String(rec.uws), /@\d+\.\d+\.\d+/);
    assert.match(String(rec.sha256), /^[0-9a-f]{64}$/);
    for (const k of ['splitHeadLimit', 'maxHeaders', 'overMaxHeaders', 'http10', 'missingHost']) assert.ok(k in rec, k);
    assert.equal(rec.measured, true, 'the pinned build is one router/uws-builds.ts describes');
    assert.equal(rec.splitHeadLimit, DEFAULT_MAX_HEAD_SIZE, 'uWS took the router\'s limit');
    assert.equal(buildRecord(small).splitHeadLimit, 8192);
  });

  for (const kb of SIZES_KB) {
    test(`a ${kb} KB head is served in 1, 2 and 8 segments`, async () => {
      for (const segs of SEGMENTS) {
        const a = await sendHead(router.port, headOf(kb * 1024), segs);
        assert.equal(a.status, 200, `${kb} KB in ${segs} segments: ${a.end} after ${a.ms} ms`);
      }
    });
  }

  test('one byte over the limit gets 431 in 1, 2 and 8 segments', async () => {
    for (const segs of SEGMENTS) {
      const a = await sendHead(router.port, headOf(DEFAULT_MAX_HEAD_SIZE + 1), segs);
      assert.equal(a.status, 431, `${segs} segments: ${a.end} after ${a.ms} ms`);
    }
  });

  test('--max-head-size 8k: heads up to 8 KB served, larger ones 431, however segmented', async () => {
    for (const kb of SIZES_KB) {
      for (const segs of SEGMENTS) {
        const a = await sendHead(small.port, headOf(kb * 1024), segs);
        assert.equal(a.status, kb <= 8 ? 200 : 431, `${kb} KB in ${segs} segments: ${a.end} after ${a.ms} ms`);
      }
    }
    const over = await sendHead(small.port, headOf(8193), 1);
    assert.equal(over.status, 431);
    // the access log is written in batches: give it a moment
    for (let i = 0; i < 40 && !small.lines().some((l) => l.includes('status=431')); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(small.lines().some((l) => l.includes('status=431')), 'a 431 the router answers itself has a router line');
  });

  test('with --workers 2 the limit holds in every worker thread (uWS reads it once per process)', async () => {
    const w = await startRouter(cluster, ['--workers', '2']);
    try {
      for (let i = 0; i < 4; i++) { // the kernel spreads connections over both workers
        assert.equal((await sendHead(w.port, headOf(16 * 1024), 8)).status, 200);
        assert.equal((await sendHead(w.port, headOf(DEFAULT_MAX_HEAD_SIZE + 1), 2)).status, 431);
      }
    } finally {
      await w.stop();
    }
  });

  test('HTTP/1.0 gets a status line within 1 s', async () => {
    for (const segs of [1, 2]) {
      const a = await sendHead(router.port, headOf(200, '1.0'), segs, 1000);
      assert.ok(a.status === 200 || a.status === 505, `HTTP/1.0 in ${segs} segments: ${a.status ?? a.end} after ${a.ms} ms`);
      assert.ok(a.ms < 1000);
    }
  });

  test('as many header lines as the build parses (Host included) are served', async () => {
    const max = Number(buildRecord(router).maxHeaders);
    for (const n of [Math.min(40, max), max]) {
      for (const segs of [1, 2]) {
        const a = await sendHead(router.port, headWithHeaders(n), segs);
        assert.equal(a.status, 200, `${n} header lines in ${segs} segments: ${a.end} after ${a.ms} ms`);
      }
    }
  });

  test('100 header lines get a status line (200 or 431)', async (t) => {
    const rec = buildRecord(router);
    const known = [...KNOWN_BUILDS.values()].find((b) => `${b.package}@${b.version}` === rec.uws);
    if (known && known.overMaxHeaders !== '431' && known.maxHeaders < 100) {
      t.todo(`${rec.uws} holds at most ${known.maxHeaders} header lines and leaves more without a status (router/README.md, "Which uWebSockets.js build")`);
    }
    for (const segs of [1, 2]) {
      const a = await sendHead(router.port, headWithHeaders(100), segs, 2000);
      assert.ok(a.status === 200 || a.status === 431, `100 header lines in ${segs} segments: ${a.status ?? a.end} after ${a.ms} ms`);
    }
  });

  test('other connections were served throughout, without one failure', async () => {
    await client.stop();
    assert.deepEqual(client.failures, []);
    assert.ok(client.ok >= 20, `only ${client.ok} background requests answered`);
  });
});
