/**
 * The dyno-node agent against real etcd and real processes: boot from a slug,
 * endpoint after accept, exact environment, crash backoff, R10, stop with
 * SIGTERM then SIGKILL, and a release change that starts the new dyno first.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { useEtcd, eventually } from '../support/etcd.ts';
import { userName } from '../../dyno-node/users.ts';
import { groupAlive } from '../../dyno-node/procfs.ts';
import { craftTarball, makeSlug, markDir, place, putRelease, slugOf, WEB_APP } from './fixtures.ts';
import { startAgent } from './harness.ts';
import { endpointOf, statusOf } from '../support/dyno-keys.ts';

const etcd = useEtcd();

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

async function getJson(host: string, port: number): Promise<{ env: Record<string, string>; uid: number; pid: number; cwd: string }> {
  const res = await fetch(`http://${host}:${port}/`);
  return (await res.json()) as never;
}

describe('dyno-node agent', () => {
  test('a desired web dyno boots from its slug, answers on its endpoint, with exactly the release env', async () => {
    const cluster = etcd.cluster();
    const h = await startAgent(cluster);
    try {
      const node = await cluster.get(cluster.keys.node(h.nodeId));
      assert.ok(node, 'node registered');
      assert.equal(node.value.address, '127.0.0.1');
      assert.notEqual(node.lease, '0', 'node record is on a lease');

      const s = await makeSlug({ Procfile: 'web: node server.js\n', 'server.js': WEB_APP });
      h.slugs.add(s);
      await putRelease(cluster, h.key, 'shop', 1, s.slug, { web: 'node server.js' }, { DATABASE_URL: 'postgres://db/shop', PORT: '1' });
      await place(cluster, h.nodeId, { app: 'shop', dyno: 'web.1', release: 1 });

      const ep = await eventually(() => endpointOf(cluster, 'shop', 'web.1'), 20_000, 'endpoint');
      assert.equal(ep.value.node, h.nodeId);
      assert.equal(ep.value.release, 1);
      assert.equal(ep.value.host, '127.0.0.1');
      assert.equal(ep.lease, node.lease, 'endpoint lives on the node lease');
      const body = await getJson(ep.value.host, ep.value.port);

      // PWD is exported by /bin/sh itself.
      const keys = Object.keys(body.env).filter((k) => k !== 'PWD').sort();
      assert.deepEqual(keys, ['DATABASE_URL', 'DYNO', 'HOME', 'PATH', 'PORT', 'PS'], 'nothing from the agent env');
      assert.equal(body.env.DATABASE_URL, 'postgres://db/shop');
      assert.equal(body.env.PORT, String(ep.value.port), 'platform PORT wins over a config var');
      assert.equal(body.env.DYNO, 'web.1');
      assert.equal(body.env.HOME, body.cwd);
      assert.ok(body.cwd.startsWith(`${h.dir}/dynos/shop/web.1.`));
      if (process.getuid?.() === 0) {
        const passwd = await readFile('/etc/passwd', 'utf8');
        const uid = Number(passwd.split('\n').find((l) => l.startsWith(`${userName('shop')}:`))!.split(':')[2]);
        assert.equal(body.uid, uid, 'runs as the app user');
      }

      const st = await statusOf(cluster, 'shop', 'web.1');
      assert.equal(st?.value.state, 'up');
      assert.equal(st?.value.release, 1);
      assert.equal(h.slugs.requests, 1);
      await h.waitLine('shop', 'web.1', /^listening on \d+$/);
      assert.ok(h.lines('shop', 'web.1').some((l) => l.source === 'heroku' && l.line === 'State changed from starting to up'));

      // A second dyno of the same release reuses the cached slug.
      await place(cluster, h.nodeId, { app: 'shop', dyno: 'web.2', release: 1 });
      await eventually(() => endpointOf(cluster, 'shop', 'web.2'), 20_000, 'endpoint web.2');
      assert.equal(h.slugs.requests, 1, 'slug fetched once');

      // Removing the placement: endpoint first, then SIGTERM, then the status goes.
      const pid = body.pid;
      await cluster.delete(cluster.keys.placement(h.nodeId, 'shop', 'web.1'));
      await eventually(async () => !(await endpointOf(cluster, 'shop', 'web.1')), 5000, 'endpoint removed');
      await eventually(async () => !(await groupAlive(pid)), 10_000, 'process gone');
      await eventually(async () => !(await statusOf(cluster, 'shop', 'web.1')), 5000, 'status removed');
      assert.ok(h.lines('shop', 'web.1').some((l) => l.line === 'Stopping all processes with SIGTERM'));

      // The node advertises its cached slugs; unused ones are pruned.
      await h.agent.pruneSlugs();
      assert.deepEqual((await cluster.get(cluster.keys.node(h.nodeId)))?.value.slugs, [s.slug.sha256], 'web.2 still uses it');
      await cluster.delete(cluster.keys.placement(h.nodeId, 'shop', 'web.2'));
      await eventually(async () => h.agent.slots.size === 0, 10_000, 'web.2 gone');
      await h.agent.pruneSlugs();
      assert.deepEqual((await cluster.get(cluster.keys.node(h.nodeId)))?.value.slugs, []);
      assert.equal(existsSync(`${h.dir}/slugs/${s.slug.sha256}.tgz`), false);
    } finally {
      await h.stop();
    }
  });

  test('a crash loop restarts at once, then backs off with growing cool-offs, visible in status', async () => {
    const cluster = etcd.cluster();
    const h = await startAgent(cluster, { coolOffsMs: [500, 1000, 1000], goodRunMs: 60_000 });
    try {
      const s = await makeSlug({ Procfile: 'worker: echo boom; exit 0\n' });
      h.slugs.add(s);
      await putRelease(cluster, h.key, 'crashy', 1, s.slug, { worker: 'echo boom; exit 0' });
      await place(cluster, h.nodeId, { app: 'crashy', dyno: 'worker.1', release: 1 });

      const st = await eventually(async () => {
        const e = await statusOf(cluster, 'crashy', 'worker.1');
        return e && e.value.restarts >= 4 && e.value.state === 'crashed' ? e : undefined;
      }, 20_000, 'four restarts');
      assert.equal(st.value.exitCode, 0, 'exit 0 counts as a crash');
      assert.match(st.value.message, /Process exited with status 0; crashed \d+ times in a row, restarting in/);
      assert.ok(st.value.nextRestartAt! > Date.now() - 1500);

      const starts = h.lines('crashy', 'worker.1').filter((l) => l.line.startsWith('Starting process')).map((l) => l.ts);
      const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
      // The first crash restarts at once (no cool-off line for it); later ones wait, longer each time.
      const coolOffs = h.lines('crashy', 'worker.1').map((l) => /^Crashed (\d+) times in a row; restarting in (.+)$/.exec(l.line)).filter((m) => m);
      assert.deepEqual(coolOffs.slice(0, 3).map((m) => [m![1], m![2]]), [['2', '0.5 s'], ['3', '1.0 s'], ['4', '1.0 s']]);
      assert.ok(gaps[1]! >= 450, `second waits the first cool-off (${gaps[1]} ms)`);
      assert.ok(gaps[2]! >= 950, `third waits longer (${gaps[2]} ms)`);
      assert.ok(h.lines('crashy', 'worker.1').some((l) => l.source === 'app' && l.line === 'boom'));
      assert.ok(h.lines('crashy', 'worker.1').some((l) => /^State changed from (starting|up) to crashed$/.test(l.line)));
    } finally {
      await h.stop();
    }
  });

  test('R10: a web dyno that never binds $PORT is killed at the boot timeout and counted as a crash', async () => {
    const cluster = etcd.cluster();
    const h = await startAgent(cluster, { bootTimeoutMs: 800, coolOffsMs: [60_000] });
    try {
      const s = await makeSlug({ Procfile: 'web: sleep 30\n' });
      h.slugs.add(s);
      await putRelease(cluster, h.key, 'slow', 1, s.slug, { web: 'sleep 30' });
      await place(cluster, h.nodeId, { app: 'slow', dyno: 'web.1', release: 1 });
      await h.waitLine('slow', 'web.1', /^Error R10 \(Boot timeout\) -> Web process failed to bind to \$PORT within 1 seconds of launch$/);
      const st = await eventually(async () => {
        const e = await statusOf(cluster, 'slow', 'web.1');
        return e?.value.state === 'crashed' && e.value.restarts >= 2 ? e : undefined;
      }, 10_000, 'crashed twice');
      assert.equal(st.value.exitCode, 137);
      assert.ok(st.value.nextRestartAt! > Date.now() + 30_000, 'second crash waits the cool-off');
      assert.equal(await endpointOf(cluster, 'slow', 'web.1'), undefined, 'never published');
    } finally {
      await h.stop();
    }
  });

  test('a release change starts the new dyno, publishes it, and only then SIGTERMs the old one', async () => {
    const cluster = etcd.cluster();
    const marks = await markDir();
    const h = await startAgent(cluster, { drainMs: 200 });
    try {
      const s = await makeSlug({ Procfile: 'web: node server.js\n', 'server.js': WEB_APP });
      h.slugs.add(s);
      for (const v of [1, 2]) {
        await putRelease(cluster, h.key, 'roll', v, s.slug, { web: 'node server.js' }, { MARK: `v${v}`, TERM_LOG: `${marks}/term.log` });
      }
      await place(cluster, h.nodeId, { app: 'roll', dyno: 'web.1', release: 1 });
      const ep1 = await eventually(() => endpointOf(cluster, 'roll', 'web.1'), 20_000, 'v1 endpoint');
      const old = await getJson('127.0.0.1', ep1.value.port);

      // Watch the endpoint key to time the switch.
      let switchedAt = 0;
      const poll = setInterval(async () => {
        const e = await endpointOf(cluster, 'roll', 'web.1').catch(() => undefined);
        if (!switchedAt && e?.value.release === 2) switchedAt = Date.now();
      }, 10);
      await place(cluster, h.nodeId, { app: 'roll', dyno: 'web.1', release: 2 });
      const term = await eventually(async () => (await readFile(`${marks}/term.log`, 'utf8').catch(() => '')).match(/web\.1 v1 sigterm (\d+)/), 20_000, 'old SIGTERM');
      clearInterval(poll);
      const ep2 = (await endpointOf(cluster, 'roll', 'web.1'))!;
      assert.equal(ep2.value.release, 2);
      assert.notEqual(ep2.value.port, ep1.value.port);
      assert.ok(switchedAt > 0 && switchedAt <= Number(term[1]), `endpoint v2 at ${switchedAt}, old SIGTERM at ${term[1]}`);
      const fresh = await getJson('127.0.0.1', ep2.value.port);
      assert.equal(fresh.env.MARK, 'v2');
      await eventually(async () => !(await groupAlive(old.pid)), 10_000, 'old process gone');
      const st = await statusOf(cluster, 'roll', 'web.1');
      assert.equal(st?.value.state, 'up');
      assert.equal(st?.value.release, 2);

      // `ps:restart` bumps restartNonce: same release, a fresh process, same order.
      const sinceBefore = st!.value.since;
      await place(cluster, h.nodeId, { app: 'roll', dyno: 'web.1', release: 2, restartNonce: 1 });
      const ep3 = await eventually(async () => {
        const e = await endpointOf(cluster, 'roll', 'web.1');
        return e && e.value.port !== ep2.value.port ? e : undefined;
      }, 20_000, 'restarted endpoint');
      assert.equal(ep3.value.release, 2);
      await eventually(async () => !(await groupAlive(fresh.pid)), 10_000, 'previous process gone');
      assert.notEqual((await getJson('127.0.0.1', ep3.value.port)).pid, fresh.pid);
      const restarted = await eventually(async () => {
        const e = await statusOf(cluster, 'roll', 'web.1');
        return e && e.value.since > sinceBefore ? e : undefined;
      }, 10_000, '`since` to follow the restarted process');
      assert.equal(restarted.value.state, 'up');
    } finally {
      await h.stop();
      await rm(marks, { recursive: true, force: true });
    }
  });

  test('a crafted slug (../ entry) or one that does not match its sha256 never runs; status says why', async () => {
    const cluster = etcd.cluster();
    const h = await startAgent(cluster, { coolOffsMs: [60_000] });
    try {
      const evil = slugOf(craftTarball([{ path: 'Procfile', type: '0', body: 'web: x' }, { path: '../../escaped', type: '0', body: 'pwned' }]));
      h.slugs.add(evil);
      await putRelease(cluster, h.key, 'evil', 1, evil.slug, { web: 'sleep 30' });
      await place(cluster, h.nodeId, { app: 'evil', dyno: 'web.1', release: 1 });
      const good = await makeSlug({ Procfile: 'web: sleep 30\n' });
      h.slugs.slugs.set(good.slug.sha256, Buffer.concat([good.body, Buffer.from('tampered')]));
      await putRelease(cluster, h.key, 'tamper', 1, good.slug, { web: 'sleep 30' });
      await place(cluster, h.nodeId, { app: 'tamper', dyno: 'web.1', release: 1 });

      for (const [app, why] of [['evil', /slug refused: \.\.\/\.\.\/escaped: path contains "\.\."/], ['tamper', /sha256 mismatch/]] as const) {
        const st = await eventually(async () => {
          const e = await statusOf(cluster, app, 'web.1');
          return e?.value.state === 'crashed' && e.value.restarts >= 2 ? e : undefined;
        }, 15_000, `${app} crashed`);
        assert.match(st.value.message, why);
        assert.equal(await endpointOf(cluster, app, 'web.1'), undefined);
      }
      // The dyno dir is dynos/evil/web.1.<run>: ../../escaped would land in dynos/.
      for (const p of [`${h.dir}/dynos/escaped`, `${h.dir}/dynos/evil/escaped`, `${h.dir}/escaped`]) assert.equal(existsSync(p), false, p);
    } finally {
      await h.stop();
    }
  });

  test('daily cycling (shortened): the dyno is replaced, new one first, and it is not a crash', async () => {
    const cluster = etcd.cluster();
    const h = await startAgent(cluster, { cycleMs: 1500, cycleJitterMs: 0 });
    try {
      const s = await makeSlug({ Procfile: 'web: node server.js\n', 'server.js': WEB_APP });
      h.slugs.add(s);
      await putRelease(cluster, h.key, 'cyc', 1, s.slug, { web: 'node server.js' });
      await place(cluster, h.nodeId, { app: 'cyc', dyno: 'web.1', release: 1 });
      const ep = await eventually(() => endpointOf(cluster, 'cyc', 'web.1'), 20_000, 'endpoint');
      await h.waitLine('cyc', 'web.1', /^Cycling$/, 10_000);
      const next = await eventually(async () => {
        const e = await endpointOf(cluster, 'cyc', 'web.1');
        return e && e.value.port !== ep.value.port ? e : undefined;
      }, 15_000, 'cycled endpoint');
      assert.equal(next.value.release, 1);
      const st = await statusOf(cluster, 'cyc', 'web.1');
      assert.equal(st?.value.state, 'up');
      assert.equal(st?.value.restarts, 0, 'cycling is not a crash');
    } finally {
      await h.stop();
    }
  });

  test('stop reaches a process that left the dyno\'s process group (setsid), through the cgroup', async (t) => {
    const cluster = etcd.cluster();
    const h = await startAgent(cluster);
    try {
      if (!h.agent.cgroups) return t.skip('no memory cgroup on this host: only the process group is signalled');
      const s = await makeSlug({ Procfile: 'web: node server.js\n', 'server.js': WEB_APP });
      h.slugs.add(s);
      await putRelease(cluster, h.key, 'escape', 1, s.slug, { web: 'setsid sleep 300 & echo "escapee $!"; exec node server.js' });
      await place(cluster, h.nodeId, { app: 'escape', dyno: 'web.1', release: 1 });
      const line = await h.waitLine('escape', 'web.1', /^escapee \d+$/);
      const escapee = Number(line.line.split(' ')[1]);
      await eventually(() => endpointOf(cluster, 'escape', 'web.1'), 20_000, 'endpoint');
      assert.notEqual(readFileSafe(`/proc/${escapee}/stat`), '', 'escapee running');
      await cluster.delete(cluster.keys.placement(h.nodeId, 'escape', 'web.1'));
      await eventually(() => !existsSync(`/proc/${escapee}`) || /\) Z /.test(readFileSafe(`/proc/${escapee}/stat`)), 10_000, 'escapee killed');
    } finally {
      await h.stop();
    }
  });

  test('stop: a dyno that ignores SIGTERM gets SIGKILL after the stop timeout (R12), both logged', async () => {
    const cluster = etcd.cluster();
    const h = await startAgent(cluster, { stopTimeoutMs: 700 });
    try {
      const s = await makeSlug({ Procfile: 'web: node server.js\n', 'server.js': WEB_APP });
      h.slugs.add(s);
      await putRelease(cluster, h.key, 'stubborn', 1, s.slug, { web: 'node server.js' }, { IGNORE_TERM: '1' });
      await place(cluster, h.nodeId, { app: 'stubborn', dyno: 'web.1', release: 1 });
      const ep = await eventually(() => endpointOf(cluster, 'stubborn', 'web.1'), 20_000, 'endpoint');
      const { pid } = await getJson('127.0.0.1', ep.value.port);
      const t0 = Date.now();
      await cluster.delete(cluster.keys.placement(h.nodeId, 'stubborn', 'web.1'));
      await h.waitLine('stubborn', 'web.1', /^Stopping all processes with SIGTERM$/);
      await h.waitLine('stubborn', 'web.1', /^Error R12 \(Exit timeout\)/);
      await h.waitLine('stubborn', 'web.1', /^Stopping remaining processes with SIGKILL$/);
      await eventually(async () => !(await groupAlive(pid)), 5000, 'killed');
      assert.ok(Date.now() - t0 >= 700);
    } finally {
      await h.stop();
    }
  });
});
