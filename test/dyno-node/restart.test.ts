/**
 * The agent as its own process (`dynomesh dyno-node`), killed with SIGKILL and
 * started again: live dynos are adopted (same pid, endpoint re-published on the
 * new lease), dynos no longer placed are stopped, dynos that died meanwhile are
 * restarted; never two processes for one dyno, none left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Cluster } from '../../cluster/client.ts';
import { useEtcd, eventually } from '../support/etcd.ts';
import { credentialFile, dataDir, makeSlug, place, putRelease, SlugServer, WEB_APP } from './fixtures.ts';
import { endpointOf, statusOf } from '../support/dyno-keys.ts';

const etcd = useEtcd();
const BIN = fileURLToPath(new URL('../../bin/dynomesh.js', import.meta.url));

/** Dyno processes on this host: pid -> dyno dir name, found by their working directory. */
async function dynoProcesses(dir: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cwd = await readlink(`/proc/${name}/cwd`).catch(() => '');
    if (cwd.startsWith(`${dir}/dynos/`)) out.set(Number(name), cwd.slice(dir.length + 7));
  }
  return out;
}

/** After a test: any dyno still running under `dir` is killed, the slug server stopped, `dir` removed. */
async function cleanUp(dir: string, slugs: { stop(): Promise<void> }): Promise<void> {
  for (const [pid] of await dynoProcesses(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await slugs.stop();
  await rm(dir, { recursive: true, force: true });
}

/** Dyno name -> how many process *groups* run it (a dyno is one group; a shell may fork under it). */
async function groupsPerDyno(dir: string): Promise<Record<string, number>> {
  const out: Record<string, Set<string>> = {};
  for (const [, d] of await dynoProcesses(dir)) {
    const [app, rest] = d.split('/');
    const dyno = rest!.replace(/\.v\d+-[0-9a-f]+$/, '');
    (out[`${app}/${dyno}`] ??= new Set()).add(rest!);
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.size]));
}

function startAgentProcess(args: string[]): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, [BIN, 'dyno-node', ...args], {
    env: { PATH: process.env.PATH!, DYNOMESH_LOG_FORMAT: 'json', DYNOMESH_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  return { child, output: () => output };
}

/** A node's data dir, cluster key file, slug server and `dynomesh dyno-node` flags for one test. */
async function agentSetup(cluster: Cluster, bootTimeout: string, extra: string[] = []) {
  const key = randomBytes(32);
  const dir = await dataDir();
  const slugs = new SlugServer(key);
  await slugs.start(cluster);
  const node = `node-${randomBytes(3).toString('hex')}`;
  const credential = await credentialFile(cluster, key, node, `${dir}/node.credential`);
  const args = [
    '--etcd', etcd.server.endpoint, '--etcd-prefix', cluster.keys.prefix, '--node-id', node, '--data-dir', dir,
    '--node-credential', credential, '--lease-ttl', '2', '--boot-timeout', bootTimeout, '--stop-timeout', '2s', '--drain', '100ms',
    // Adoption of host processes (found by their cwd); isolated dynos are adopted in test/isolation/lifecycle.test.ts.
    '--isolation', 'off',
    ...extra,
  ];
  return { key, dir, slugs, node, args };
}

test('SIGKILL of the agent and a restart neither duplicate nor orphan dynos', { timeout: 120_000 }, async () => {
  const cluster = etcd.cluster();
  const { key, dir, slugs, node, args } = await agentSetup(cluster, '10s', ['--cool-off', '500ms', '--memory', '2048']);
  let a: ReturnType<typeof startAgentProcess> | undefined;
  let b: ReturnType<typeof startAgentProcess> | undefined;
  try {
    const s = await makeSlug({ Procfile: 'web: node server.js\n', 'server.js': WEB_APP, 'worker.js': 'setInterval(() => console.log("working"), 1000);' });
    slugs.add(s);
    for (const v of [1, 2]) await putRelease(cluster, key, 'keep', v, s.slug, { web: 'node server.js', worker: 'node worker.js' }, { MARK: `v${v}` });
    for (const dyno of ['web.1', 'web.2', 'worker.1']) await place(cluster, node, { app: 'keep', dyno, release: 1 });

    a = startAgentProcess(args);
    const ep1 = await eventually(() => endpointOf(cluster, 'keep', 'web.1'), 30_000, 'web.1 endpoint');
    await eventually(() => endpointOf(cluster, 'keep', 'web.2'), 30_000, 'web.2 endpoint');
    await eventually(async () => (await statusOf(cluster, 'keep', 'worker.1'))?.value.state === 'up', 30_000, 'worker up');
    const web1 = (await (await fetch(`http://127.0.0.1:${ep1.value.port}/`)).json()) as { pid: number };
    const before = await dynoProcesses(dir);
    const workerPids = [...before].filter(([, d]) => d.startsWith('keep/worker.1.')).map(([p]) => p);
    assert.deepEqual(await groupsPerDyno(dir), { 'keep/web.1': 1, 'keep/web.2': 1, 'keep/worker.1': 1 });

    // The agent dies hard; its dynos keep running and serving.
    a.child.kill('SIGKILL');
    await new Promise((r) => a!.child.once('exit', r));
    assert.equal(((await (await fetch(`http://127.0.0.1:${ep1.value.port}/`)).json()) as { pid: number }).pid, web1.pid);

    // While it is down: web.2 is descheduled, and worker.1's process dies.
    await cluster.delete(cluster.keys.placement(node, 'keep', 'web.2'));
    for (const p of workerPids) process.kill(p, 'SIGKILL');

    b = startAgentProcess(args);
    // web.1 adopted: same process, endpoint re-published on the new agent's lease.
    const nodeRec = await eventually(async () => {
      const n = await cluster.get(cluster.keys.node(node));
      return n && n.lease !== ep1.lease ? n : undefined;
    }, 30_000, 'node re-registered on a new lease');
    const ep1b = await eventually(async () => {
      const e = await endpointOf(cluster, 'keep', 'web.1');
      return e?.lease === nodeRec.lease ? e : undefined;
    }, 30_000, 'web.1 endpoint on the new lease');
    assert.equal(ep1b.value.port, ep1.value.port);
    assert.equal(((await (await fetch(`http://127.0.0.1:${ep1b.value.port}/`)).json()) as { pid: number }).pid, web1.pid, 'adopted, not restarted');
    // web.2 stopped and its endpoint removed; worker.1 started again.
    await eventually(async () => !(await endpointOf(cluster, 'keep', 'web.2')), 30_000, 'web.2 endpoint removed');
    await eventually(async () => {
      const g = await groupsPerDyno(dir);
      return g['keep/web.1'] === 1 && g['keep/worker.1'] === 1 && !g['keep/web.2'];
    }, 30_000, 'exactly web.1 and worker.1 running');
    await eventually(async () => (await statusOf(cluster, 'keep', 'worker.1'))?.value.state === 'up', 30_000, 'worker up again');
    assert.match(b.output(), /run-adopted/);

    // The adopted dyno is replaced like any other on a release change.
    await place(cluster, node, { app: 'keep', dyno: 'web.1', release: 2 });
    const ep2 = await eventually(async () => {
      const e = await endpointOf(cluster, 'keep', 'web.1');
      return e?.value.release === 2 ? e : undefined;
    }, 30_000, 'web.1 v2');
    await eventually(async () => ![...(await dynoProcesses(dir)).keys()].includes(web1.pid), 30_000, 'adopted v1 process stopped');
    assert.equal(((await (await fetch(`http://127.0.0.1:${ep2.value.port}/`)).json()) as { env: { MARK: string } }).env.MARK, 'v2');

    // A clean stop (SIGTERM) stops every dyno and leaves the cluster.
    b.child.kill('SIGTERM');
    const code = await new Promise((r) => b!.child.once('exit', r));
    assert.equal(code, 0);
    assert.equal((await dynoProcesses(dir)).size, 0, 'no dyno left running');
    assert.equal(await cluster.get(cluster.keys.node(node)), undefined);
    assert.equal(await endpointOf(cluster, 'keep', 'web.1'), undefined);
  } catch (err) {
    process.stderr.write(`agent A output:\n${a?.output().slice(-4000)}\nagent B output:\n${b?.output().slice(-6000)}\n`);
    throw err;
  } finally {
    for (const x of [a, b]) if (x && x.child.exitCode === null) x.child.kill('SIGKILL');
    await cleanUp(dir, slugs);
  }
});

test('an agent killed in the middle of a release roll finishes it after restart, with one process left', { timeout: 120_000 }, async () => {
  const cluster = etcd.cluster();
  const { key, dir, slugs, node, args } = await agentSetup(cluster, '20s');
  let a: ReturnType<typeof startAgentProcess> | undefined;
  let b: ReturnType<typeof startAgentProcess> | undefined;
  try {
    const s = await makeSlug({ Procfile: 'web: node server.js\n', 'server.js': WEB_APP });
    slugs.add(s);
    await putRelease(cluster, key, 'roll', 1, s.slug, { web: 'node server.js' }, { MARK: 'v1' });
    await putRelease(cluster, key, 'roll', 2, s.slug, { web: 'node server.js' }, { MARK: 'v2', LISTEN_DELAY: '2500' });
    await place(cluster, node, { app: 'roll', dyno: 'web.1', release: 1 });
    a = startAgentProcess(args);
    const ep1 = await eventually(() => endpointOf(cluster, 'roll', 'web.1'), 30_000, 'v1 endpoint');

    // v2 starts beside v1 (slow to bind); the agent dies while both run. "dyno-started" comes after
    // v2's record is on disk: a kill before that sweeps the half-made run instead (tested above).
    await place(cluster, node, { app: 'roll', dyno: 'web.1', release: 2 });
    await eventually(() => /"run":"v2-[^"]+".*"msg":"dyno-started"/.test(a!.output()), 15_000, 'v2 started beside v1');
    assert.equal((await groupsPerDyno(dir))['roll/web.1'], 2, 'v1 and v2 both running');
    a.child.kill('SIGKILL');
    await new Promise((r) => a!.child.once('exit', r));

    b = startAgentProcess(args);
    const ep2 = await eventually(async () => {
      const e = await endpointOf(cluster, 'roll', 'web.1');
      return e?.value.release === 2 ? e : undefined;
    }, 30_000, 'v2 endpoint');
    assert.notEqual(ep2.value.port, ep1.value.port);
    await eventually(async () => (await groupsPerDyno(dir))['roll/web.1'] === 1, 15_000, 'v1 stopped, one process left');
    assert.equal(((await (await fetch(`http://127.0.0.1:${ep2.value.port}/`)).json()) as { env: { MARK: string } }).env.MARK, 'v2');
    assert.equal((b.output().match(/"run-adopted"/g) ?? []).length, 2, 'both runs adopted, neither restarted');
    assert.doesNotMatch(b.output(), /"dyno-started"/);
  } catch (err) {
    process.stderr.write(`agent A output:\n${a?.output().slice(-4000)}\nagent B output:\n${b?.output().slice(-6000)}\n`);
    throw err;
  } finally {
    const running = [a, b].filter((x) => x && x.child.exitCode === null && x.child.signalCode === null);
    for (const x of running) x!.child.kill('SIGTERM');
    await Promise.all(running.map((x) => new Promise((r) => x!.child.once('exit', r))));
    await cleanUp(dir, slugs);
  }
});
