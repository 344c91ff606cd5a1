/**
 * 1 GB through the router in each direction, with the router process under a
 * small V8 heap: bodies must stream with backpressure, never be held whole.
 * The router's peak RSS (VmHWM) is read from /proc and must stay bounded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createHash } from 'node:crypto';
import type { Cluster } from '../../cluster/client.ts';
import { useEtcd } from '../support/etcd.ts';
import { addApp, addEndpoint, startBackend, startRouter, type Backend, type RouterProc } from './helpers.ts';

const etcd = useEtcd();
const GB = 1024 * 1024 * 1024;
/** Peak resident memory allowed for the router process while 1 GB streams through it. */
const RSS_LIMIT_MB = 200;
/** ...and its growth over its idle RSS (tsx, etcd client and uWS take ~110 MB before any request). */
const GROWTH_LIMIT_MB = 100;

/** Asserts the router's peak RSS so far is under the limit, and prints it next to its RSS at start. */
let startRssMb = 0;
let routerPid = 0;
function report(after: string): void {
  const peak = peakRssMb(routerPid);
  process.stdout.write(`# router RSS at start ${startRssMb.toFixed(0)} MB, peak after ${after}: ${peak.toFixed(0)} MB\n`);
  assert.ok(peak < RSS_LIMIT_MB, `router peak RSS ${peak.toFixed(0)} MB after ${after}`);
  assert.ok(peak - startRssMb < GROWTH_LIMIT_MB, `router RSS grew ${(peak - startRssMb).toFixed(0)} MB while streaming ${after}`);
}

const peakRssMb = (pid: number): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

function upload(port: number, host: string, bytes: number, chunked: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path: '/count', method: 'POST', agent: false,
      headers: { host, ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(bytes) }) },
    }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(256 * 1024, 'u');
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/** sha256 of the fixture's pattern body of n bytes (byte p is p % 251). */
function patternSha(n: number): string {
  const block = Buffer.from(Array.from({ length: 251 * 1024 }, (_, i) => i % 251));
  const h = createHash('sha256');
  for (let left = n; left > 0; left -= block.length) h.update(left >= block.length ? block : block.subarray(0, left));
  return h.digest('hex');
}

/** Downloads and hashes a body; `slowReader` pauses now and then so the router meets backpressure. */
function download(port: number, host: string, path: string, slowReader = false): Promise<{ status: number; bytes: number; sha: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { host } }, (res) => {
      let bytes = 0;
      const h = createHash('sha256');
      let n = 0;
      res.on('data', (b: Buffer) => {
        bytes += b.length;
        h.update(b);
        if (slowReader && ++n % 20 === 0) {
          res.pause();
          setTimeout(() => res.resume(), 2);
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, bytes, sha: h.digest('hex'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('bodies to a slow reader arrive intact (backpressure paths)', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let router: RouterProc;
  let backend: Backend;

  before(async () => {
    cluster = etcd.cluster();
    backend = await startBackend('slowread');
    await addApp(cluster, 'slowread');
    await addEndpoint(cluster, 'slowread', 'web.1', backend.port);
    router = await startRouter(cluster);
  });
  after(async () => {
    await router?.stop();
    await backend?.kill();
  });

  // Regression: uWS 20.30 dropped chunked bytes when a corked write overflowed while the client was full.
  test('64 MiB chunked and Content-Length downloads, 4 times each, hash intact', async () => {
    const n = 64 * 1024 * 1024;
    const want = patternSha(n);
    for (let i = 0; i < 4; i++) {
      for (const q of ['&chunked=1', '']) {
        const r = await download(router.port, 'slowread.localhost', `/bytes?n=${n}${q}`, true);
        assert.equal(r.bytes, n, `round ${i}${q}`);
        assert.equal(r.sha, want, `round ${i}${q}`);
      }
    }
    assert.equal(router.stderr(), '');
  });
});

describe('large bodies stream both ways', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let router: RouterProc;
  let backend: Backend;

  before(async () => {
    cluster = etcd.cluster();
    backend = await startBackend('big');
    await addApp(cluster, 'big');
    await addEndpoint(cluster, 'big', 'web.1', backend.port);
    router = await startRouter(cluster, [], ['--max-old-space-size=64', '--max-semi-space-size=8']);
    routerPid = router.proc.pid!;
    startRssMb = peakRssMb(routerPid);
  });
  after(async () => {
    await router?.stop();
    await backend?.kill();
  });

  test('1 GiB upload (chunked) reaches the dyno whole', async () => {
    const r = await upload(router.port, 'big.localhost', GB, true);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).bytes, GB);
    report('1 GiB chunked upload');
  });

  test('999,999,999-byte upload with Content-Length (the largest uWS 20.30 accepts) reaches the dyno whole', async () => {
    const r = await upload(router.port, 'big.localhost', 999_999_999, false);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).bytes, 999_999_999);
    report('999,999,999-byte upload');
  });

  test('1 GiB download (Content-Length) reaches the client whole', async () => {
    const r = await download(router.port, 'big.localhost', `/bytes?n=${GB}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], String(GB));
    assert.equal(r.bytes, GB);
    assert.equal(r.sha, patternSha(GB));
    report('1 GiB download');
  });

  test('256 MB chunked both ways (re-chunked upstream, chunked to the client)', async () => {
    const up = await upload(router.port, 'big.localhost', 256 * 1024 * 1024, true);
    assert.equal(JSON.parse(up.body).bytes, 256 * 1024 * 1024);
    const down = await download(router.port, 'big.localhost', `/bytes?n=${256 * 1024 * 1024}&chunked=1`);
    assert.equal(down.bytes, 256 * 1024 * 1024);
    assert.equal(down.sha, patternSha(256 * 1024 * 1024));
    report('256 MiB chunked both ways');
    assert.equal(router.stderr(), '', 'no uWS warnings (e.g. writes outside cork)');
  });
});
