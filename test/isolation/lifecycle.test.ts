/**
 * What isolated dynos leave behind: nothing. 20 start/stop cycles end with no
 * container, network namespace, veth, address lease, portmap rule or bundle; an
 * agent killed with SIGKILL comes back, adopts its running container, sweeps what
 * a half-finished start left, and stops cleanly. Needs root; skipped otherwise.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { useEtcd, eventually } from '../support/etcd.ts';
import { credentialFile, dataDir, makeSlug, place, putRelease, SlugServer, WEB_APP } from '../dyno-node/fixtures.ts';
import { startAgent } from '../dyno-node/harness.ts';
import type { Isolation } from '../../container/isolation.ts';
import { mountsUnder, Volume } from '../../container/volume.ts';
import { endpointOf, statusOf } from '../support/dyno-keys.ts';

const root = process.getuid?.() === 0;
const etcd = useEtcd();
const BIN = fileURLToPath(new URL('../../bin/dynomesh.js', import.meta.url));

/** Everything of one agent's isolation that outlives a container if cleanup is broken. */
async function leftovers(iso: Isolation, stateDir: string, dynosDir: string): Promise<Record<string, string[]>> {
  const net = iso.network.o;
  const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
  const netnsNames = await readdir('/run/netns').catch(() => [] as string[]);
  return {
    containers: iso.runtime ? (await iso.runtime.list()).map((c) => c.id) : [],
    netns: netnsNames.filter((n) => n.startsWith(net.netnsPrefix)),
    veths: sh('ip', ['-o', 'link', 'show', 'master', net.bridge]).split('\n').filter(Boolean),
    // The lease directory is the host's: leases held by another daemon's live namespaces are not ours.
    leases: [...(await iso.network.leases())].filter(([, owner]) => !netnsNames.some((n) => n.endsWith(`-${owner}`) && !n.startsWith(net.netnsPrefix))).map(([ip]) => ip),
    portmaps: sh('iptables', ['-t', 'nat', '-S']).split('\n').filter((l) => l.includes(`${net.name}\\"`) && / id: /.test(l)),
    bundles: await readdir(`${stateDir}/bundles`).catch(() => [] as string[]),
    volumes: await mountsUnder(dynosDir),
  };
}

const nothing = { containers: [], netns: [], veths: [], leases: [], portmaps: [], bundles: [], volumes: [] };

describe('isolated dyno lifecycle', { skip: !root && 'needs root (runc, CNI, nftables)' }, () => {
  test('20 start/stop cycles leave no container, namespace, veth, lease, rule or bundle', { timeout: 240_000 }, async () => {
    const cluster = etcd.cluster();
    const h = await startAgent(cluster, { isolation: { mode: 'runc', subnet: '10.237.0.0/16', name: 'cycle' }, drainMs: 0 });
    try {
      const iso = h.agent.isolation!;
      const s = await makeSlug({ Procfile: 'web: node server.js\n', 'server.js': WEB_APP });
      h.slugs.add(s);
      await putRelease(cluster, h.key, 'cyc', 1, s.slug, { web: 'node server.js' });
      for (let i = 0; i < 20; i++) {
        await place(cluster, h.nodeId, { app: 'cyc', dyno: 'web.1', release: 1 });
        const ep = await eventually(() => endpointOf(cluster, 'cyc', 'web.1'), 30_000, `endpoint, cycle ${i}`);
        assert.equal((await fetch(`http://${ep.value.host}:${ep.value.port}/`)).status, 200);
        const during = await leftovers(iso, `${h.dir}/containers`, `${h.dir}/dynos`);
        assert.equal(during.containers.length, 1, `cycle ${i}: one container while it runs`);
        assert.equal(during.portmaps.length > 0, true, `cycle ${i}: its port is published`);
        assert.equal(during.volumes.length, 1, `cycle ${i}: its /app volume is mounted`);
        await cluster.delete(cluster.keys.placement(h.nodeId, 'cyc', 'web.1'));
        await eventually(async () => !(await statusOf(cluster, 'cyc', 'web.1')), 30_000, `stopped, cycle ${i}`);
      }
      await eventually(async () => JSON.stringify(await leftovers(iso, `${h.dir}/containers`, `${h.dir}/dynos`)) === JSON.stringify(nothing), 10_000, 'nothing left');
    } finally {
      await h.stop();
    }
  });

  test('an agent killed with SIGKILL adopts its container, sweeps a half-made one, and stops cleanly', { timeout: 120_000 }, async () => {
    const cluster = etcd.cluster();
    const key = randomBytes(32);
    const dir = await dataDir();
    const slugs = new SlugServer(key);
    await slugs.start(cluster);
    const node = `node-${randomBytes(3).toString('hex')}`;
    const credential = await credentialFile(cluster, key, node, `${dir}/node.credential`);
    const args = [
      'dyno-node', '--etcd', etcd.server.endpoint, '--etcd-prefix', cluster.keys.prefix, '--node-id', node, '--data-dir', dir,
      '--node-credential', credential, '--lease-ttl', '2', '--stop-timeout', '2s', '--drain', '100ms',
      '--isolation', 'runc', '--dyno-subnet', '10.236.0.0/16',
    ];
    const agents: { child: ChildProcess; out: string }[] = [];
    const start = () => {
      const a = { child: spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH!, DYNOMESH_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] }), out: '' };
      a.child.stdout!.on('data', (b: Buffer) => (a.out += b.toString()));
      a.child.stderr!.on('data', (b: Buffer) => (a.out += b.toString()));
      agents.push(a);
      return a;
    };
    try {
      const s = await makeSlug({ Procfile: 'web: node server.js\n', 'server.js': WEB_APP });
      slugs.add(s);
      await putRelease(cluster, key, 'kept', 1, s.slug, { web: 'node server.js' }, { MARK: 'first' });
      await place(cluster, node, { app: 'kept', dyno: 'web.1', release: 1 });
      const a = start();
      const ep = await eventually(() => endpointOf(cluster, 'kept', 'web.1'), 30_000, 'endpoint');
      const pid1 = ((await (await fetch(`http://${ep.value.host}:${ep.value.port}/`)).json()) as { pid: number }).pid;
      a.child.kill('SIGKILL');
      await new Promise((r) => a.child.once('exit', r));

      // What a start interrupted by the kill would leave: a bundle, a namespace and an address lease of a container never run.
      const stale = 'kept.web.2.v1-deadbeef';
      const bundles = `${dir}/containers/bundles`;
      await mkdir(`${bundles}/${stale}/rootfs`, { recursive: true });
      // The agent's namespace prefix, read off the running dyno's namespace.
      const nsPrefix = (await readdir('/run/netns')).find((n) => n.includes('kept.web.1'))!.replace(/kept\.web\.1\..*$/, '');
      execFileSync('ip', ['netns', 'add', `${nsPrefix}${stale}`]);
      const staleVolume = await Volume.create(`${dir}/dynos/kept/web.2.v1-deadbeef`, 16 * 1024 * 1024);

      // The dyno outlived its agent and still answers.
      assert.equal(((await (await fetch(`http://${ep.value.host}:${ep.value.port}/`)).json()) as { pid: number }).pid, pid1);
      const b = start();
      await eventually(() => /"run-adopted"/.test(b.out), 30_000, 'run adopted');
      await eventually(async () => {
        const e = await endpointOf(cluster, 'kept', 'web.1');
        return e && e.lease !== ep.lease ? e : undefined;
      }, 30_000, 'endpoint on the new lease');
      assert.equal(((await (await fetch(`http://${ep.value.host}:${ep.value.port}/`)).json()) as { pid: number }).pid, pid1, 'the same process, adopted');
      assert.ok(!(await readdir(bundles)).includes(stale), 'half-made bundle swept');
      assert.ok(!(await readdir('/run/netns')).includes(`${nsPrefix}${stale}`), 'half-made namespace swept');
      assert.ok(!(await mountsUnder(`${dir}/dynos`)).includes(staleVolume.mountPoint), 'half-made volume unmounted');
      assert.equal((await mountsUnder(`${dir}/dynos`)).length, 1, 'the adopted dyno keeps its volume');
      assert.doesNotMatch(b.out, /"dyno-started"/);

      // A clean stop takes the adopted container and its network with it.
      b.child.kill('SIGTERM');
      await new Promise((r) => b.child.once('exit', r));
      assert.deepEqual((await readdir('/run/netns')).filter((n) => n.startsWith(nsPrefix)), []);
      assert.deepEqual(await readdir(bundles), []);
      assert.deepEqual(await mountsUnder(`${dir}/dynos`), [], 'its /app volume unmounted');
      const runtime = execFileSync('runc', ['--root', `${dir}/containers/runtime`, 'list', '-q'], { encoding: 'utf8' }).trim();
      assert.equal(runtime, '');
    } catch (err) {
      for (const a of agents) process.stderr.write(`agent output:\n${a.out.slice(-3000)}\n`);
      throw err;
    } finally {
      for (const a of agents) if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
      execFileSync('sh', ['-c', `runc --root ${dir}/containers/runtime list -q | xargs -r -n1 runc --root ${dir}/containers/runtime delete --force`]);
      await slugs.stop();
    }
  });
});
