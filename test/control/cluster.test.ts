/**
 * Two real `dynomesh control` processes on a real etcd, with simulated dyno-nodes:
 * consecutive releases under concurrent config changes through both instances,
 * rollback, scaling 1 -> 5 -> 0, a node's lease revoked, a preboot roll, and
 * SIGKILL of the leader with the follower taking over within 5 s.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cluster, EntryOf } from '../../cluster/client.ts';
import { freePort } from '../../lib/ports.ts';
import { loadClusterKey, unseal } from '../../cluster/sealed.ts';
import { deployRelease, type ReleaseContext } from '../../control/releases.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { ADMIN, client, SimNode } from './support.ts';
import { listEndpointsOf } from '../support/dyno-keys.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const etcd = useEtcd();

interface Proc {
  id: string;
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

describe('two control processes', () => {
  let cluster: Cluster;
  let dir: string;
  const procs: Proc[] = [];
  const nodes: SimNode[] = [];
  let rctx: ReleaseContext;

  async function spawnControl(id: string): Promise<Proc> {
    const port = await freePort();
    const log = createWriteStream(join(dir, `${id}.log`));
    const child = spawn(process.execPath, [
      'bin/dynomesh.js', 'control',
      '--etcd', etcd.server.endpoint, '--etcd-prefix', cluster.keys.prefix,
      '--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, id), '--cluster-key', join(dir, 'cluster.key'),
      '--lease-ttl', '2', '--id', id, '--router-port', '5000',
    ], { cwd: ROOT, env: { ...process.env, DYNOMESH_BOOTSTRAP_TOKEN: ADMIN, DYNOMESH_LOG_LEVEL: 'info', NODE_TEST_CONTEXT: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const url = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${url}/health`)).ok, 30_000, `${id} serving`);
    const p = { id, url, child, exited };
    procs.push(p);
    return p;
  }

  const health = async (p: Proc) => (await (await fetch(`${p.url}/health`)).json()) as { leader: boolean };
  const placementsOf = async (app: string) =>
    (await cluster.list(cluster.keys.placements())).entries.filter((e): e is EntryOf<'placement'> => e.kind === 'placement' && e.value.app === app);

  before(async () => {
    cluster = etcd.cluster();
    dir = mkdtempSync(join(tmpdir(), 'dynomesh-control-cluster-'));
    await spawnControl('c1');
    await spawnControl('c2');
    rctx = { cluster, clusterKey: loadClusterKey(join(dir, 'cluster.key')) };
  });

  after(async () => {
    for (const n of nodes) await n.kill().catch(() => undefined);
    for (const p of procs) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
      await Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000))]);
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    }
    if (process.env.KEEP_LOGS) console.log(`logs in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  test('exactly one leader; both registered as members', async () => {
    const leaders = await eventually(async () => {
      const hs = await Promise.all(procs.map(health));
      return hs.filter((h) => h.leader).length === 1 ? hs : undefined;
    }, 10_000, 'one leader');
    assert.equal(leaders.filter((h) => h.leader).length, 1);
    const members = await cluster.list(cluster.keys.members());
    assert.deepEqual(members.entries.map((e) => (e as EntryOf<'member'>).value.id).sort(), ['c1', 'c2']);
  });

  test('20 concurrent config changes through both instances make 20 consecutive releases', async () => {
    const a = client(procs[0]!.url);
    const b = client(procs[1]!.url);
    assert.equal((await a('POST', '/apps', { name: 'web-app' })).status, 201);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b)('PATCH', '/apps/web-app/config-vars', { [`K${i}`]: `secret-value-${i}` })),
    );
    assert.deepEqual(results.map((r) => r.status), Array(20).fill(200));
    const rels = (await a('GET', '/apps/web-app/releases')).body as { version: number; description: string }[];
    assert.deepEqual(rels.map((r) => r.version), Array.from({ length: 21 }, (_, i) => i + 1));
    // Each release holds the config it was made from: one more key than the one before, none lost.
    let prev: Record<string, string> = {};
    for (let v = 2; v <= 21; v++) {
      const rel = (await cluster.get(cluster.keys.release('web-app', v)))!.value;
      const cfg = unseal(rctx.clusterKey, rel.config);
      assert.equal(Object.keys(cfg).length, v - 1, `v${v} has ${v - 1} vars`);
      for (const [k, val] of Object.entries(prev)) assert.equal(cfg[k], val);
      const added = Object.keys(cfg).filter((k) => !(k in prev));
      assert.equal(rel.description, `Set ${added[0]} config vars`);
      prev = cfg;
    }
    assert.equal(Object.keys((await b('GET', '/apps/web-app/config-vars')).body).length, 20);

    // What an operator sees with etcdctl: ciphertext only.
    const out = execFileSync('etcdctl', ['--endpoints', etcd.server.endpoint, 'get', '--prefix', cluster.keys.prefix], { env: { ...process.env, ETCDCTL_API: '3' } });
    assert.ok(out.includes(Buffer.from(`${cluster.keys.prefix}config/web-app`)), 'etcdctl lists the config key');
    // (names appear in release descriptions, "Set K3 config vars", as on Heroku; values never do)
    assert.ok(!out.includes(Buffer.from('secret-value-')), 'a config value is readable with etcdctl');
  });

  test('rollback makes a new release with the old slug and config', async () => {
    const api = client(procs[1]!.url);
    const v22 = await deployRelease(rctx, 'web-app', { slug: { id: 'a'.repeat(64), sha256: 'a'.repeat(64), size: 10 }, processTypes: { web: 'node a.js' }, author: 'test' });
    await api('PATCH', '/apps/web-app/config-vars', { K0: null, NEW: 'x' });
    const v24 = await deployRelease(rctx, 'web-app', { slug: { id: 'b'.repeat(64), sha256: 'b'.repeat(64), size: 10 }, processTypes: { web: 'node b.js' }, author: 'test' });
    assert.deepEqual([v22.version, v24.version], [22, 24]);
    const rb = await api('POST', '/apps/web-app/releases', { release: 22 });
    assert.equal(rb.status, 201);
    assert.equal(rb.body.version, 25);
    assert.equal(rb.body.description, 'Rollback to v22');
    const v25 = (await cluster.get(cluster.keys.release('web-app', 25)))!.value;
    assert.deepEqual(v25.slug, v22.slug);
    assert.deepEqual(v25.processTypes, { web: 'node a.js' });
    assert.deepEqual(unseal(rctx.clusterKey, v25.config), unseal(rctx.clusterKey, v22.config));
    assert.equal((await api('GET', '/apps/web-app/config-vars')).body.K0, 'secret-value-0');
  });

  test('scaling 1 -> 5 -> 0 changes placements, spread over nodes', async () => {
    for (const id of ['n1', 'n2', 'n3']) nodes.push(await SimNode.start(cluster, id, { memoryMb: 4096 }));
    const api = client(procs[0]!.url);
    const at = async (n: number) => {
      const ps = await eventually(async () => {
        const l = await placementsOf('web-app');
        return l.length === n && l.every((p) => p.value.release === 25) ? l : undefined;
      }, 10_000, `${n} placements`);
      return ps;
    };
    assert.equal((await api('PATCH', '/apps/web-app/formation', { updates: [{ type: 'web', quantity: 1 }] })).status, 200);
    await at(1);
    await api('PATCH', '/apps/web-app/formation/web', { quantity: 5 });
    const five = await at(5);
    const per = new Map<string, number>();
    for (const p of five) per.set(p.ref.node, (per.get(p.ref.node) ?? 0) + 1);
    assert.deepEqual([...per.values()].sort(), [1, 2, 2]);
    assert.deepEqual(five.map((p) => p.value.dyno).sort(), ['web.1', 'web.2', 'web.3', 'web.4', 'web.5']);
    await eventually(async () => (await api('GET', '/apps/web-app/dynos')).body.every((d: { state: string }) => d.state === 'up'), 10_000, 'dynos up');
    await api('PATCH', '/apps/web-app/formation/web', { quantity: 0 });
    await at(0);
  });

  test("revoking a node's lease moves its dynos to the other nodes", async () => {
    const api = client(procs[1]!.url);
    await api('PATCH', '/apps/web-app/formation/web', { quantity: 4 });
    await eventually(async () => (await placementsOf('web-app')).length === 4, 10_000, '4 placements');
    const victim = nodes.find((n) => n.id === 'n1')!;
    const t0 = Date.now();
    await victim.kill();
    nodes.splice(nodes.indexOf(victim), 1);
    const moved = await eventually(async () => {
      const l = await placementsOf('web-app');
      return l.length === 4 && l.every((p) => p.ref.node !== 'n1') ? l : undefined;
    }, 10_000, 'dynos moved off n1');
    const ms = Date.now() - t0;
    assert.deepEqual(moved.map((p) => p.value.dyno).sort(), ['web.1', 'web.2', 'web.3', 'web.4']);
    console.log(`# dynos re-placed ${ms} ms after the node's lease was revoked`);
  });

  test('a new release rolls web dynos with preboot: routable dynos never drop below the formation', async () => {
    const q = 4;
    await eventually(async () => (await listEndpointsOf(cluster, 'web-app')).entries.length === q, 10_000, 'all routable');
    let min = Infinity;
    let samples = 0;
    let stop = false;
    const sampler = (async () => {
      while (!stop) {
        const eps = await listEndpointsOf(cluster, 'web-app');
        min = Math.min(min, eps.entries.length);
        samples++;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const before = new Set((await placementsOf('web-app')).map((p) => p.value.dyno));
    const rel = await deployRelease(rctx, 'web-app', { slug: { id: 'c'.repeat(64), sha256: 'c'.repeat(64), size: 10 }, processTypes: { web: 'node c.js' }, author: 'test' });
    const done = await eventually(async () => {
      const l = await placementsOf('web-app');
      const eps = (await listEndpointsOf(cluster, 'web-app')).entries as EntryOf<'endpoint'>[];
      return l.length === q && l.every((p) => p.value.release === rel.version) && eps.length === q && eps.every((e) => e.value.release === rel.version) ? l : undefined;
    }, 15_000, 'roll finished');
    stop = true;
    await sampler;
    assert.ok(samples > 10);
    assert.ok(min >= q, `routable web dynos dropped to ${min} during the roll`);
    assert.ok(done.every((p) => !before.has(p.value.dyno)), 'new dynos got new names while old ones still ran');
  });

  test('SIGTERM of the leader hands leadership over at once (resign), and the instance can rejoin', async () => {
    const hs = await Promise.all(procs.map(health));
    const leader = procs[hs.findIndex((h) => h.leader)]!;
    const follower = procs.find((p) => p !== leader)!;
    const t0 = Date.now();
    leader.child.kill('SIGTERM');
    assert.equal(await leader.exited, 0, 'clean exit on SIGTERM');
    await eventually(async () => (await health(follower)).leader, 5_000, 'follower leads');
    const ms = Date.now() - t0;
    console.log(`# leadership handed over ${ms} ms after SIGTERM`);
    procs.splice(procs.indexOf(leader), 1);
    await spawnControl(leader.id);
    await eventually(async () => (await cluster.list(cluster.keys.members())).entries.length === 2, 10_000, 'rejoined');
    assert.equal((await health(procs[procs.length - 1]!)).leader, false, 'a restarted instance joins as follower');
  });

  test('SIGKILL of the leader: the other instance leads within 5 s and keeps reconciling', async () => {
    const hs = await Promise.all(procs.map(health));
    const leader = procs[hs.findIndex((h) => h.leader)]!;
    const follower = procs.find((p) => p !== leader)!;
    const t0 = Date.now();
    leader.child.kill('SIGKILL');
    await leader.exited;
    await eventually(async () => (await health(follower)).leader, 5_000, 'follower leads');
    const ms = Date.now() - t0;
    console.log(`# new leader after ${ms} ms`);
    assert.ok(ms < 5000);
    assert.deepEqual((await cluster.list(cluster.keys.members())).entries.map((e) => (e as EntryOf<'member'>).value.id), [follower.id]);

    const api = client(follower.url);
    await api('PATCH', '/apps/web-app/formation/web', { quantity: 2 });
    await eventually(async () => (await placementsOf('web-app')).length === 2, 10_000, 'scaled to 2 by the new leader');
    const victim = nodes[0]!;
    await victim.kill();
    nodes.shift();
    await eventually(async () => {
      const l = await placementsOf('web-app');
      return l.length === 2 && l.every((p) => p.ref.node !== victim.id);
    }, 10_000, 'new leader moves dynos off a dead node');
    const log = readFileSync(join(dir, `${follower.id}.log`), 'utf8');
    assert.match(log, /control-leader-elected/);
  });
});
