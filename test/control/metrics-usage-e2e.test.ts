/**
 * Per-app metrics and dyno usage end to end, with real processes on loopback:
 * etcd, two `dynomesh control` instances, a `dynomesh router` (two worker
 * threads), a `dynomesh dyno-node` and a `git push`ed app.
 *
 * - 1,000 requests through the router, 10 of which the app answers by closing
 *   the connection (H13): the metrics, read from the instance that does NOT own
 *   the app, count them all, the failures by code, and a p95 within 10% of the
 *   one the load generator measured;
 * - the dyno allocates 300 MB: its memory shows about 300 MB;
 * - a one-off that sleeps N s is billed N +/- 2 s; one across an agent restart
 *   (SIGKILL of the agent, its dyno left running and adopted) is billed once;
 *   one on a host killed with its dynos (SIGKILL of the agent and the dyno's
 *   process group) stops counting within the node's lease TTL.
 * Intervals are read from etcd (`usage/`), where the control's leader moves a
 * run once its node marked it ended (or its lease expired).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request, Agent as HttpAgent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../lib/ports.ts';
import type { Cluster } from '../../cluster/client.ts';
import type { Member, UsageInterval, UsageOpen } from '../../cluster/records.ts';
import { ownerOf } from '../../logplex/owners.ts';
import { deriveCredential, writeCredential } from '../../logplex/credential.ts';
import { loadClusterKey } from '../../cluster/sealed.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { pushFiles } from '../support/git.ts';
import { ADMIN, client } from './support.ts';
import { BIN, Daemon } from '../logs/procs.ts';

const etcd = useEtcd();
const APP = 'metered';
/** The dyno-node's lease: a lost host's dynos stop counting at most this long after it died. */
const NODE_TTL_S = 10;

const SERVER_JS = `
const http = require('http');
let hold;
http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  if (u.pathname === '/fail') return req.socket.destroy();
  if (u.pathname === '/alloc') {
    hold = Buffer.alloc(Number(u.searchParams.get('mb')) * 1024 * 1024, 1);
    return res.end('held ' + hold.length + '\\n');
  }
  setTimeout(() => res.end('ok\\n'), Number(u.searchParams.get('d') || 0));
}).listen(process.env.PORT);
`;

const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 8 });

function get(port: number, path: string, reuse = true): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host: `${APP}.localhost` }, agent: reuse ? keepAlive : false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
    });
    req.setTimeout(20_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('metrics and usage end to end', () => {
  let dir: string;
  let cluster: Cluster;
  const daemons: Daemon[] = [];
  const controls: { d: Daemon; id: string; url: string }[] = [];
  let routerPort = 0;
  let env: NodeJS.ProcessEnv;
  let node: Daemon;
  const dump = () => daemons.map((d) => d.tail()).join('\n');
  const nodeArgs = () => ['dyno-node', '--node-id', 'n1', '--data-dir', join(dir, 'node'), '--memory', '2048', '--lease-ttl', String(NODE_TTL_S), '--boot-timeout', '60s', '--stop-timeout', '3s', '--drain', '100ms'];
  const startNode = () => {
    node = new Daemon('dyno-node', nodeArgs(), env);
    daemons.push(node);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dm-metrics-e2e-'));
    chmodSync(dir, 0o711);
    mkdirSync(join(dir, 'node'), { mode: 0o711 });
    cluster = etcd.cluster();
    const key = join(dir, 'cluster.key');
    writeFileSync(key, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    routerPort = await freePort();
    env = {
      PATH: process.env.PATH, HOME: dir, DYNOMESH_LOG_LEVEL: 'warn', DYNOMESH_BOOTSTRAP_TOKEN: ADMIN,
      DYNOMESH_ETCD: etcd.server.endpoint, DYNOMESH_PREFIX: cluster.keys.prefix, DYNOMESH_CLUSTER_KEY: key,
      // The shard's isolation (npm test's "rest" shard: off, dynos as host processes); containers are not what this tests.
      ...(process.env.DYNOMESH_ISOLATION ? { DYNOMESH_ISOLATION: process.env.DYNOMESH_ISOLATION } : {}),
    };
    for (const id of ['ctl-a', 'ctl-b']) {
      const port = await freePort();
      const d = new Daemon(id, ['control', '--id', id, '--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, id), '--lease-ttl', '2', '--router-port', String(routerPort)], env);
      daemons.push(d);
      controls.push({ d, id, url: `http://127.0.0.1:${port}` });
    }
    writeCredential(join(dir, 'router.credential'), deriveCredential(loadClusterKey(key), 'router:r1'));
    daemons.push(new Daemon('router', ['router', '--port', String(routerPort), '--admin-port', 'off', '--workers', '2', '--log-credential', join(dir, 'router.credential')], env));
    try {
      for (const c of controls) await eventually(async () => (await fetch(`${c.url}/health`).catch(() => undefined))?.status === 200, 60_000, `${c.id} healthy`);
      // The host gets its own credential the way an operator enrols one.
      const cliEnv = { PATH: process.env.PATH, HOME: dir, DYNOMESH_API_URL: controls[0]!.url, DYNOMESH_API_KEY: ADMIN, DYNOMESH_CONFIG: join(dir, 'cli.json') };
      await promisify(execFile)(process.execPath, [BIN, 'nodes:enroll', 'n1', '--out', join(dir, 'node', 'node.credential')], { env: cliEnv });
      startNode();
      await eventually(async () => (await cluster.list(cluster.keys.members())).entries.filter((e) => (e.value as Member).logs).length === 2, 10_000, 'two log members');
      await eventually(async () => (await cluster.list(cluster.keys.nodes())).entries.length === 1, 60_000, 'dyno-node registered');
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${dump()}`);
    }
    const api = client(controls[0]!.url);
    assert.equal((await api('POST', '/apps', { name: APP })).status, 201);
    const remote = controls[0]!.url.replace('http://', `http://admin:${ADMIN}@`) + `/${APP}.git`;
    await pushFiles(join(dir, 'app'), { Procfile: 'web: node server.js\n', 'server.js': SERVER_JS }, remote, 'metered');
  });

  after(async () => {
    keepAlive.destroy();
    for (const d of [...daemons].reverse()) await d.stop('SIGTERM', 5000);
    rmSync(dir, { recursive: true, force: true });
  });

  /** The control that does not own the app's metrics: what it answers comes from etcd. */
  const nonOwner = async () => {
    const members = (await cluster.list(cluster.keys.members())).entries.map((e) => e.value as Member).map((m) => ({ id: m.id, api: m.api, logs: m.logs! }));
    const owner = ownerOf(APP, members)!.id;
    return controls.find((c) => c.id !== owner)!;
  };

  test('1,000 requests with 10 failures: counts, codes, p95; a dyno holding 300 MB shows it', { timeout: 240_000 }, async () => {
    // Warm up until the app answers 10 times in a row on new connections (both router threads
    // have its endpoint); those requests are counted too, so remember them.
    let warm = 0;
    let inARow = 0;
    const warmCodes: Record<number, number> = {};
    await eventually(async () => {
      warm++;
      const r = await get(routerPort, '/', false).catch(() => ({ status: 0, ms: 0 }));
      warmCodes[r.status] = (warmCodes[r.status] ?? 0) + 1;
      inARow = r.status === 200 ? inARow + 1 : 0;
      if (r.status !== 200) await sleep(250);
      return inARow >= 10;
    }, 90_000, 'the app answering through the router').catch((err: Error) => {
      throw new Error(`${err.message}\n${dump()}`);
    });
    const failedWarmups = warm - (warmCodes[200] ?? 0) - (warmCodes[0] ?? 0);

    // The load: 1,000 requests, 8 at a time, service times spread over 50-150 ms; every 100th fails (H13).
    const lat: number[] = [];
    let next = 0;
    let h13 = 0;
    const worker = async () => {
      for (let i = next++; i < 1000; i = next++) {
        const fail = i % 100 === 37;
        const r = await get(routerPort, fail ? '/fail' : `/?d=${50 + ((i * 7919) % 101)}`);
        if (fail) {
          assert.equal(r.status, 503);
          h13++;
        } else assert.equal(r.status, 200, `request ${i}`);
        lat.push(r.ms);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    assert.equal(lat.length, 1000);
    const sorted = [...lat].sort((a, b) => a - b);
    const p95 = sorted[Math.ceil(0.95 * sorted.length) - 1]!;

    const reader = await nonOwner();
    const metrics = async (q: string) => {
      const res = await fetch(`${reader.url}/apps/${APP}/metrics?${q}`, { headers: { authorization: `Bearer ${ADMIN}` } });
      assert.equal(res.status, 200);
      return (await res.json()) as { step: number; points: Array<{ time: string; requests: number; errors: Record<string, number>; responseTimeMs: { p95: number } | null; memory: { rssMb: number; quotaMb: number } | null; dynos: Record<string, { rssMb: number }> }> };
    };
    // One step of a day holds the whole load (the window is at most 15 minutes).
    const body = await eventually(async () => {
      const b = await metrics('since=-900&step=86400');
      return b.points.reduce((n, p) => n + p.requests, 0) >= warm - (warmCodes[0] ?? 0) + 1000 ? b : undefined;
    }, 60_000, 'metrics to count the load');
    const total = body.points.reduce((n, p) => n + p.requests, 0);
    const errors: Record<string, number> = {};
    for (const p of body.points) for (const [k, v] of Object.entries(p.errors)) errors[k] = (errors[k] ?? 0) + v;
    const busiest = body.points.reduce((a, b) => (b.requests > a.requests ? b : a));
    console.log(`# metrics: ${total} requests (${warm} warm-up: ${JSON.stringify(warmCodes)}), errors ${JSON.stringify(errors)}, p95 ${busiest.responseTimeMs?.p95} ms vs load generator ${p95.toFixed(2)} ms`);
    assert.equal(total - (warm - (warmCodes[0] ?? 0)), 1000);
    assert.equal(h13, 10);
    assert.equal(errors.H13, 10);
    assert.equal(Object.values(errors).reduce((a, b) => a + b, 0), 10 + failedWarmups, 'no other failures than the warm-up\'s');
    assert.ok(Math.abs(busiest.responseTimeMs!.p95 - p95) / p95 <= 0.1, `p95 ${busiest.responseTimeMs!.p95} within 10% of ${p95}`);

    // Memory: the dyno allocates 300 MB and keeps it.
    assert.equal((await get(routerPort, '/alloc?mb=300')).status, 200);
    const held = await eventually(async () => {
      const b = await metrics('since=-120');
      const last = [...b.points].reverse().find((p) => p.memory);
      return last && last.dynos['web.1'] && last.dynos['web.1'].rssMb >= 290 ? last : undefined;
    }, 60_000, 'the dyno\'s memory to show 300 MB');
    console.log(`# memory: web.1 ${held.dynos['web.1']!.rssMb} MB of ${held.memory!.quotaMb} MB after allocating 300 MB`);
    assert.ok(held.dynos['web.1']!.rssMb < 300 + 120, `${held.dynos['web.1']!.rssMb} MB is about 300 MB (plus node's own)`);

    // Prometheus, admin only.
    const prom = await fetch(`${reader.url}/metrics/apps`, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(prom.status, 200);
    assert.match(await prom.text(), /# TYPE dynomesh_app_requests_per_minute gauge/);
    // The CLI's table.
    const cliEnv = { PATH: process.env.PATH, HOME: dir, DYNOMESH_API_URL: reader.url, DYNOMESH_API_KEY: ADMIN, DYNOMESH_CONFIG: join(dir, 'cli.json') };
    const out = (await promisify(execFile)(process.execPath, [BIN, 'metrics', '-a', APP, '--since', '15m', '--step', '15m'], { env: cliEnv })).stdout;
    assert.match(out, /H13=10/, out);
  });

  const api = () => client(controls[0]!.url);
  /** Starts a detached one-off; resolves with its dyno name. */
  const oneOff = async (command: string): Promise<string> => {
    const r = await api()('POST', `/apps/${APP}/dynos`, { command, attach: false });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.name as string;
  };
  const openOf = async (dyno: string) => (await cluster.list(cluster.keys.usageOpens())).entries.map((e) => e.value as UsageOpen).find((o) => o.app === APP && o.dyno === dyno);
  const intervalsOf = async (dyno: string) => (await cluster.list(cluster.keys.usage())).entries.map((e) => e.value as UsageInterval).filter((i) => i.app === APP && i.dyno === dyno);
  const billed = (ivs: UsageInterval[]) => ivs.reduce((s, i) => s + (i.end - i.start), 0) / 1000;

  test('a one-off that runs N seconds is billed N +/- 2 s, and the usage API sums it', { timeout: 120_000 }, async () => {
    const dyno = await oneOff('sleep 8');
    await eventually(() => openOf(dyno), 60_000, 'the one-off to start');
    const ivs = await eventually(async () => ((await intervalsOf(dyno)).length ? intervalsOf(dyno) : undefined), 60_000, 'the one-off to end');
    console.log(`# usage: sleep 8 billed ${billed(ivs)} s`);
    assert.ok(Math.abs(billed(ivs) - 8) <= 2, `billed ${billed(ivs)} s`);
    const u = await api()('GET', `/apps/${APP}/usage`);
    assert.equal(u.status, 200);
    const run = (u.body.lines as Array<{ type: string; seconds: number }>).find((l) => l.type === 'run')!;
    assert.ok(run.seconds >= billed(ivs) - 0.1, JSON.stringify(u.body));
    assert.ok((u.body.lines as Array<{ type: string }>).some((l) => l.type === 'web'), 'the web dyno counts while it runs');
    const all = await api()('GET', '/account/usage');
    assert.equal(all.status, 200);
    assert.ok((all.body.apps as Array<{ app: string }>).some((a) => a.app === APP));
    // The CLI's table: `usage -a app` and, for an admin, every app.
    const cliEnv = { PATH: process.env.PATH, HOME: dir, DYNOMESH_API_URL: controls[1]!.url, DYNOMESH_API_KEY: ADMIN, DYNOMESH_CONFIG: join(dir, 'cli.json') };
    const one = (await promisify(execFile)(process.execPath, [BIN, 'usage', '-a', APP], { env: cliEnv })).stdout;
    assert.match(one, /^run +standard-1x +\d+\.\d\d +\d+\.\d$/m, one);
    const every = (await promisify(execFile)(process.execPath, [BIN, 'usage'], { env: cliEnv })).stdout;
    assert.match(every, new RegExp(`=== ${APP} usage \\d{4}-\\d\\d`), every);
  });

  test('an agent restart in the middle of a run does not count it twice', { timeout: 150_000 }, async () => {
    const dyno = await oneOff('sleep 16');
    const open = await eventually(() => openOf(dyno), 60_000, 'the one-off to start');
    await sleep(3000);
    await node.stop('SIGKILL'); // the agent dies; the dyno's process group lives on
    startNode();
    const ivs = await eventually(async () => ((await intervalsOf(dyno)).length ? intervalsOf(dyno) : undefined), 90_000, 'the one-off to end').catch((err: Error) => {
      throw new Error(`${err.message}\n${dump()}`);
    });
    console.log(`# usage: sleep 16 across an agent restart billed ${billed(ivs)} s in ${ivs.length} interval(s)`);
    assert.equal(ivs.length, 1);
    assert.equal(ivs[0]!.start, open.start, 'the adopted run kept its start');
    assert.ok(Math.abs(billed(ivs) - 16) <= 2, `billed ${billed(ivs)} s`);
  });

  test('a host killed with its dynos stops counting within the lease TTL', { timeout: 150_000 }, async () => {
    await eventually(async () => (await cluster.list(cluster.keys.nodes())).entries.length === 1, 60_000, 'dyno-node registered');
    const dyno = await oneOff('sleep 300');
    const open = await eventually(() => openOf(dyno), 60_000, 'the one-off to start');
    await sleep(2000);
    const state = join(dir, 'node', 'state');
    const rec = readdirSync(state).filter((f) => f.startsWith(`${APP}--${dyno}--`) && f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(state, f), 'utf8')) as { pid: number })[0]!;
    const killedAt = Date.now();
    await node.stop('SIGKILL');
    process.kill(-rec.pid, 'SIGKILL');
    const ivs = await eventually(async () => ((await intervalsOf(dyno)).length ? intervalsOf(dyno) : undefined), 60_000, 'the leader to close the lost host\'s run');
    const end = ivs[ivs.length - 1]!.end;
    console.log(`# usage: host killed ${((killedAt - open.start) / 1000).toFixed(1)} s after start; billed ${billed(ivs)} s, stopped ${((end - killedAt) / 1000).toFixed(1)} s after the kill (lease TTL ${NODE_TTL_S} s)`);
    assert.equal(ivs[0]!.closedBy, 'lease');
    assert.ok(end >= killedAt, 'not before the host died');
    assert.ok(end - killedAt <= (NODE_TTL_S + 2) * 1000, 'within the lease TTL');
    assert.equal(await openOf(dyno), undefined);
    // The host comes back: its agent cleans up the dead run and counts nothing more for it.
    startNode();
    await eventually(async () => (await cluster.list(cluster.keys.nodes())).entries.length === 1, 60_000, 'dyno-node back');
    await eventually(async () => !readdirSync(state).some((f) => f.startsWith(`${APP}--${dyno}--`)), 30_000, 'the dead run cleaned up');
    assert.deepEqual(await intervalsOf(dyno), ivs);
  });
});
