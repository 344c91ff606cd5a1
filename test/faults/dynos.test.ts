/**
 * Faults on the dyno side of a network-namespace cluster (3 etcd, 2 control,
 * 2 routers, 3 dyno nodes), each under a bounded load loop through both routers:
 *  1. a dyno process is killed: no request fails (connect retry), the dyno restarts;
 *  6. a new release is deployed under load: no request fails (preboot);
 *  -  a host is drained (`dynomesh nodes:drain`), removed and added back: no request fails;
 *  2. a whole dyno host dies (processes and link): routers stop sending to it
 *     within the lease TTL, its dynos are rescheduled, failures stay bounded.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NetnsCluster } from '../../deploy/netns/cluster.ts';
import { containerPids, nsName, pidsIn } from '../../deploy/netns/net.ts';
import { eventually } from '../support/etcd.ts';
import { git } from '../support/git.ts';
import { Load, ROOT, deployedApp, remote, sleep, summary, waitEndpoints, type Repo } from './support.ts';
import { listEndpointsOf, statusOf as statusEntryOf } from '../support/dyno-keys.ts';

const APP = 'faulty';
let c: NetnsCluster;
let repo: Repo;

/** Processes of one dyno on a host: those whose environment says DYNO=<dyno> and APP's release. */
function dynoPids(host: string, dyno: string): number[] {
  // On the host itself, or in the dyno's own container (isolated dynos have their own network namespace).
  return [...pidsIn(nsName(c.run, host)), ...containerPids(host)].filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`DYNO=${dyno}`);
    } catch {
      return false;
    }
  });
}

async function statusOf(dyno: string) {
  const cl = c.client();
  try {
    return (await statusEntryOf(cl, APP, dyno))?.value;
  } finally {
    cl.close();
  }
}

/** The real `dynomesh` CLI against control c2 (the admin token in its environment). */
function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin/dynomesh.js'), ...args], {
      // the test hosts' network is the test's own: plain HTTP to control c2 is what it has (no TLS in front)
      env: { PATH: process.env.PATH, HOME: repo.dir, DYNOMESH_API_URL: c.apiUrls[1], DYNOMESH_API_KEY: c.adminToken, DYNOMESH_INSECURE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

deployedApp(APP, (cluster, r) => {
  c = cluster;
  repo = r;
});

describe('dyno faults under load through both routers', () => {
  test('1. kill a dyno process: zero failed requests, the dyno restarts', async () => {
    const [victim] = await waitEndpoints(c, APP, 3);
    const before = await statusOf(victim!.dyno);
    const load = new Load(c, APP, { count: 4000, ms: 40_000 });
    await sleep(1500);
    const pids = dynoPids(victim!.node, victim!.dyno);
    assert.ok(pids.length > 0, `no process of ${victim!.dyno} on ${victim!.node}`);
    const killedAt = Date.now();
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const st = await eventually(async () => {
      const s = await statusOf(victim!.dyno);
      return s && s.state === 'up' && s.restarts > (before?.restarts ?? 0) ? s : undefined;
    }, 30_000, `${victim!.dyno} restarted`);
    await waitEndpoints(c, APP, 3);
    const recovery = Date.now() - killedAt;
    await sleep(1500);
    const r = await load.stop();
    summary('1 kill-dyno-process', r, recovery, `restarts=${st.restarts}`);
    assert.ok(r.sent > 50, `only ${r.sent} requests were sent`);
    assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.failures.slice(0, 5))}`);
  });

  test('6. deploy a new release under load: zero failed requests (preboot)', async () => {
    const load = new Load(c, APP, { count: 15_000, ms: 150_000 });
    await sleep(1000);
    await repo.commit('v2');
    const pushStart = Date.now();
    const push = await git(repo.dir, ['push', '-q', remote(c, APP), 'main'], 240_000);
    assert.equal(push.code, 0, push.stderr);
    const pushedAt = Date.now();
    const cl = c.client();
    const current = (await cl.get(cl.keys.current(APP)))!.value.version;
    cl.close();
    await waitEndpoints(c, APP, 3, current);
    const recovery = Date.now() - pushedAt;
    await sleep(2000);
    const r = await load.stop();
    summary('6 deploy-under-load', r, recovery, `release=v${current} push=${((pushedAt - pushStart) / 1000).toFixed(1)}s`);
    assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.failures.slice(0, 5))}`);
    assert.ok([...r.bodies.keys()].some((b) => b.includes('node-hello v2 on')), 'the new release answered');
    assert.ok([...r.bodies.keys()].some((b) => b.includes('node-hello v1 on')), 'the old release answered during the roll');
  });

  test('drain a host with `dynomesh nodes:drain`: its dynos move off first, zero failed requests; it rejoins after uncordon', async () => {
    const eps = await waitEndpoints(c, APP, 3);
    const host = eps[eps.length - 1]!.node;
    const load = new Load(c, APP, { count: 15_000, ms: 120_000 });
    await sleep(1000);
    const t0 = Date.now();
    const drained = await cli('nodes:drain', host, '--wait-timeout', '90s');
    assert.equal(drained.code, 0, drained.stderr);
    assert.match(drained.stderr, new RegExp(`${host} is drained: no dynos left on it`));
    const recovery = Date.now() - t0;
    const moved = await waitEndpoints(c, APP, 3);
    assert.ok(moved.every((e) => e.node !== host), `dynos still on ${host}: ${JSON.stringify(moved)}`);
    const listed = await cli('nodes');
    assert.match(listed.stdout, new RegExp(`${host} +up, cordoned +${c.host(host).addr}`));
    // Remove the host: stopping its agent now drops nothing, since no dyno runs there.
    await c.daemon(host).stop();
    await sleep(1500);
    const r = await load.stop();
    summary('drain-host', r, recovery, `node=${host}`);
    assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.failures.slice(0, 5))}`);
    // Add it back: the agent starts again, still cordoned until uncordon.
    await c.startHost(host);
    assert.match((await cli('nodes')).stdout, new RegExp(`${host} +up, cordoned`));
    const un = await cli('nodes:uncordon', host);
    assert.equal(un.code, 0, un.stderr);
    assert.doesNotMatch((await cli('nodes')).stdout, /cordoned/);
    const bad = await cli('nodes:drain', 'no-such-node');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Couldn't find that node: no-such-node/);
  });

  test('2. kill a whole dyno host: routers stop sending within the lease TTL, dynos rescheduled', async () => {
    const eps = await waitEndpoints(c, APP, 3);
    const dead = eps[0]!.node;
    const lost = eps.filter((e) => e.node === dead).map((e) => e.dyno);
    const load = new Load(c, APP, { count: 6000, ms: 60_000 });
    await sleep(1500);
    const killedAt = Date.now() - load.result.startedAt;
    c.killHost(dead);
    const t0 = Date.now();
    // Its endpoints go with its lease (3 s TTL), then the scheduler places the dynos elsewhere.
    const cl = c.client();
    await eventually(async () => {
      const l = await listEndpointsOf(cl, APP);
      return l.entries.every((e) => (e.value as { node: string }).node !== dead);
    }, 15_000, `endpoints of ${dead} gone`);
    const goneMs = Date.now() - t0;
    const now = await eventually(async () => {
      const l = await listEndpointsOf(cl, APP);
      const e = l.entries.map((x) => x.value as { node: string; dyno: string });
      return e.length === 3 && e.every((x) => x.node !== dead) ? e : undefined;
    }, 90_000, 'dynos rescheduled off the dead host');
    cl.close();
    const recovery = Date.now() - t0;
    await sleep(2000);
    const r = await load.stop();
    summary('2 kill-dyno-host', r, recovery, `endpoints-gone=${(goneMs / 1000).toFixed(1)}s lost=${lost.join(',')}`);
    assert.ok(goneMs <= 3000 + 4000, `endpoints of the dead host took ${goneMs} ms to go (lease TTL 3 s)`);
    assert.equal(new Set(now.map((e) => e.node)).size, 2, 'the three dynos spread over the two live hosts');
    // Only requests in flight on that host when it died may fail (4 workers); none once its lease expired.
    assert.ok(r.failed <= 4, `${r.failed} failed: ${JSON.stringify(r.failures.slice(0, 8))}`);
    const late = r.failures.filter((f) => f.at > killedAt + goneMs + 1000);
    assert.deepEqual(late, [], 'no failures after the routers dropped the dead host');
    // The host comes back (link up, agent restarted on its old data dir) and registers again.
    await c.reviveHost(dead);
    const back = c.client();
    try {
      assert.equal((await back.get(back.keys.node(dead)))?.value.address, c.host(dead).addr);
    } finally {
      back.close();
    }
  });
});
