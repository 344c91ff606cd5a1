/**
 * Dynos in containers (runc + CNI + nftables), attacked from the inside: a probe
 * app placed on a real agent tries to reach the host, etcd, other dynos and
 * cloud metadata, to read and write what is not its own, to fork and fill its
 * disk without bound; each attempt must fail while the app still answers through
 * its published port. Needs root (CI runs as root); skipped otherwise.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { useEtcd, eventually } from '../support/etcd.ts';
import { makeSlug, place, putRelease } from '../dyno-node/fixtures.ts';
import { startAgent, type Harness } from '../dyno-node/harness.ts';
import { PROBE_APP } from './probe-app.ts';
import { hostAddress, hostListeningPorts } from '../support/host.ts';
import { startPostgres } from '../addons/servers.ts';
import { endpointOf } from '../support/dyno-keys.ts';

const root = process.getuid?.() === 0;
/** What a connect the firewall refused ends in (a closed port would give ECONNREFUSED). */
const byFirewall = (code: string | undefined) => code === 'EHOSTUNREACH' || code === 'TIMEOUT';
const etcd = useEtcd();
const SUBNET = '10.239.0.0/16';
const GATEWAY = '10.239.0.1';

describe('isolated dynos', { skip: !root && 'needs root (runc, CNI, nftables)' }, () => {
  let h: Harness;
  const cluster = () => clusterRef!;
  let clusterRef: ReturnType<typeof etcd.cluster> | undefined;
  const get = async <T>(app: string, path: string): Promise<T> => {
    const ep = await eventually(() => endpointOf(cluster(), app, 'web.1'), 30_000, `${app} endpoint`);
    const res = await fetch(`http://${ep.value.host}:${ep.value.port}${path}`, { signal: AbortSignal.timeout(60_000) });
    assert.equal(res.status, 200, `${app} ${path}`);
    return (await res.json()) as T;
  };

  before(async () => {
    clusterRef = etcd.cluster();
    h = await startAgent(cluster(), { isolation: { mode: 'runc', subnet: SUBNET, name: 'itest', diskBytes: 64 * 1024 * 1024 }, memoryMb: 4096 });
    const s = await makeSlug({ Procfile: 'web: node server.js\n', 'server.js': PROBE_APP });
    h.slugs.add(s);
    for (const app of ['evil', 'victim']) {
      await putRelease(cluster(), h.key, app, 1, s.slug, { web: 'node server.js' }, { SECRET: `${app}-secret` });
      await place(cluster(), h.nodeId, { app, dyno: 'web.1', release: 1 });
    }
  });
  after(async () => {
    await h?.stop();
  });

  test('it answers through its published port, as its app user, in /app, with only its env', async () => {
    const r = await get<{ env: Record<string, string>; uid: number; cwd: string }>('evil', '/env');
    assert.equal(r.cwd, '/app');
    assert.notEqual(r.uid, 0);
    assert.equal(r.env.HOME, '/app');
    assert.equal(r.env.SECRET, 'evil-secret');
    assert.deepEqual(Object.keys(r.env).filter((k) => k !== 'PWD').sort(), ['DYNO', 'HOME', 'PATH', 'PORT', 'PS', 'SECRET']);
  });

  test('no port of the host answers it: not through the gateway, the host address, or metadata', async () => {
    const ports = hostListeningPorts();
    assert.ok(ports.length > 3, `host listens on ${ports.length} ports`);
    const victim = await eventually(() => endpointOf(cluster(), 'victim', 'web.1'), 30_000, 'victim endpoint');
    const targets = [
      ...ports.map((p) => `${GATEWAY}:${p}`),
      ...ports.map((p) => `${hostAddress()}:${p}`),
      '169.254.169.254:80',
      `${hostAddress()}:${victim.value.port}`,
    ];
    const results = await get<{ target: string; ok: boolean; code?: string }[]>('evil', `/tcp?ms=800&targets=${targets.join(',')}`);
    const reached = results.filter((r) => r.ok).map((r) => r.target);
    assert.deepEqual(reached, [], 'reached from inside the container');
    // Refused by the firewall, not merely by a closed port (ECONNREFUSED): ICMP admin-prohibited
    // (EHOSTUNREACH), or nothing when the kernel's ICMP rate limit holds the answer back (a timeout).
    assert.deepEqual(results.filter((r) => !byFirewall(r.code)).map((r) => `${r.target} ${r.code}`), []);
    // The etcd the cluster uses is among them: its port is on the host's loopback.
    assert.ok(ports.includes(Number(new URL(etcd.server.endpoint).port)));
  });

  test('another dyno is unreachable by its container address too', async () => {
    const victimIp = await eventually(async () => {
      for (const [ip, owner] of await h.agent.isolation!.network.leases()) if (owner.startsWith('victim.')) return ip;
      return undefined;
    }, 10_000, 'victim container address');
    const victim = await eventually(() => endpointOf(cluster(), 'victim', 'web.1'), 30_000, 'victim endpoint');
    const r = await get<{ ok: boolean; code?: string }[]>('evil', `/tcp?ms=800&targets=${victimIp}:${victim.value.port}`);
    assert.equal(r[0]!.ok, false, `reached ${victimIp}`);
    assert.ok(byFirewall(r[0]!.code), r[0]!.code);
  });

  test('it sees only its own processes and none of the host state', async () => {
    const procs = await get<string[]>('evil', '/procs');
    assert.ok(procs.length <= 5, `sees ${procs.length} processes: ${procs.join(' | ')}`);
    assert.ok(procs.every((c) => !/etcd|dynomesh|victim/.test(c)), procs.join(' | '));
    const reads = await get<{ path: string; ok: boolean }[]>('evil', `/read?paths=${[
      `${h.dir}/state`, '/var/lib/dynomesh', '/etc/dynomesh', '/etc/shadow', '/root/.dynomesh/cluster.key', '/proc/1/environ', '/etc/passwd',
    ].join(',')}`);
    const readable = reads.filter((r) => r.ok).map((r) => r.path);
    assert.deepEqual(readable, ['/proc/1/environ', '/etc/passwd'], 'only its own init and its generated passwd');
    const passwd = await get<{ ok: boolean; entries: string[] }>('evil', '/ls?path=/home');
    assert.equal(passwd.ok, false);
  });

  test('it writes only /app and /tmp', async () => {
    const w = await get<{ path: string; ok: boolean; code?: string }[]>('evil', '/write?paths=/app/x,/tmp/x,/usr/x,/etc/x,/x,/var/x');
    assert.deepEqual(w.map((r) => [r.path, r.ok]), [['/app/x', true], ['/tmp/x', true], ['/usr/x', false], ['/etc/x', false], ['/x', false], ['/var/x', false]]);
  });

  test('no new namespaces, no kernel keyring, no mounts: the syscall filter holds', async () => {
    const sh = async (cmd: string) => get<{ status: number; out: string }>('evil', `/sh?cmd=${encodeURIComponent(cmd)}`);
    assert.match((await sh('grep Seccomp: /proc/self/status')).out, /Seccomp:\s+2/);
    for (const cmd of ['unshare -Ur true', 'unshare -n true', 'unshare -m true', 'mount -t tmpfs x /tmp']) {
      const r = await sh(cmd);
      assert.notEqual(r.status, 0, `${cmd}: ${r.out}`);
      assert.match(r.out, /Operation not permitted|Function not implemented|must be superuser|permission denied/i, cmd);
    }
    // What apps do still works: threads, child processes, a pipe between them.
    assert.deepEqual(await sh('echo hi | tr a-z A-Z'), { status: 0, out: 'HI\n' });
  });

  test('a fork bomb stops at its pids limit and the other app keeps answering', async () => {
    const f = await get<{ started: number; error: string | null }>('evil', '/fork?n=2000');
    assert.ok(f.error, `forked ${f.started} without a limit`);
    assert.ok(f.started < 2000 && f.started > 10, `started ${f.started}`);
    const v = await get<{ hello: string }>('victim', '/');
    assert.equal(v.hello, 'web.1');
    await get('evil', '/unfork');
  });

  test('filling /tmp ends in ENOSPC for it alone', async () => {
    const r = await get<{ ok: boolean; code?: string; mb: number }>('evil', '/fill?path=/tmp/big&mb=4096');
    assert.equal(r.ok, false);
    assert.equal(r.code, 'ENOSPC');
    assert.ok(r.mb < 1100, `wrote ${r.mb} MB`);
    const v = await get<{ hello: string }>('victim', '/');
    assert.equal(v.hello, 'web.1');
  });

  test('filling /app ends in ENOSPC at its disk size, for it alone', async () => {
    const r = await get<{ ok: boolean; code?: string; mb: number }>('evil', '/fill?path=/app/big&mb=4096');
    assert.equal(r.code, 'ENOSPC');
    assert.ok(r.mb > 10 && r.mb < 64, `wrote ${r.mb} MB into a 64 MB volume`);
    const v = await get<{ hello: string }>('victim', '/');
    assert.equal(v.hello, 'web.1');
    // The host's own disk never saw it: /app is its own filesystem.
    const w = await get<{ path: string; ok: boolean }[]>('evil', '/write?paths=/app/after');
    assert.equal(w[0]!.ok, true, 'space is back once the file is gone');
  });

  test('it reaches an add-on server the control advertises, and nothing else on that host', async () => {
    const pg = await startPostgres(hostAddress());
    try {
      const port = Number(new URL(pg.adminUrl).port);
      const before = await get<{ ok: boolean; code?: string }>('evil', `/pg?host=${hostAddress()}&port=${port}`);
      assert.ok(byFirewall(before.code), `blocked before any control advertises it: ${before.code}`);
      // A control instance with --addon-postgresql advertises host:port (never the credentials).
      await cluster().put(cluster().keys.member('ctl-1'), { id: 'ctl-1', api: 'http://127.0.0.1:1', startedAt: Date.now(), addonServers: [`${hostAddress()}:${port}`] });
      const after = await eventually(async () => {
        const r = await get<{ ok: boolean; answer?: string }>('evil', `/pg?host=${hostAddress()}&port=${port}`);
        return r.ok ? r : undefined;
      }, 10_000, 'PostgreSQL reachable');
      assert.match(after.answer!, /^[NS]$/, 'a PostgreSQL answered the SSLRequest');
      const other = hostListeningPorts().find((p) => p !== port && p !== 22);
      const r = await get<{ ok: boolean; code?: string }[]>('evil', `/tcp?ms=800&targets=${hostAddress()}:${other}`);
      assert.ok(byFirewall(r[0]!.code), `port ${other} of the same host: ${r[0]!.code}`);
    } finally {
      await pg.stop();
    }
  });
});
