/**
 * The container spec as data: what every tenant container gets and never gets,
 * checked without running anything (the isolation tests run it for real).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ociConfig } from '../../container/spec.ts';
import { hostResolvers, hostStack } from '../../container/stack.ts';
import { disjoint, overlaps, parseAllow, ruleset } from '../../container/firewall.ts';

const spec = () => ociConfig({
  args: ['/usr/bin/tini', '--', '/bin/sh', '-c', 'node server.js'], env: { PORT: '5000' }, cwd: '/app', uid: 1234, gid: 1234, hostname: 'web.1',
  stack: [{ source: '/usr', destination: '/usr' }], writable: [{ source: '/tmp/builds/b1', destination: '/tmp/builds/b1' }],
  netns: '/run/netns/x', cgroupsPath: '/dm/x', limits: { memoryBytes: 1 << 30, pids: 256, cpuShares: 1024, tmpBytes: 512 << 20 },
}) as { process: Record<string, unknown>; root: { readonly: boolean }; mounts: { destination: string; type: string; options: string[] }[]; linux: Record<string, unknown> };

test('a tenant runs as its user with no capabilities, no new privileges, in every namespace, on a read-only root', () => {
  const s = spec();
  assert.deepEqual(s.process.user, { uid: 1234, gid: 1234, additionalGids: [1234] });
  assert.equal(s.process.noNewPrivileges, true);
  for (const set of Object.values(s.process.capabilities as Record<string, string[]>)) assert.deepEqual(set, []);
  assert.equal(s.root.readonly, true);
  const ns = (s.linux.namespaces as { type: string; path?: string }[]).map((n) => n.type).sort();
  assert.deepEqual(ns, ['ipc', 'mount', 'network', 'pid', 'uts']);
  assert.deepEqual((s.linux.namespaces as { type: string; path?: string }[]).find((n) => n.type === 'network'), { type: 'network', path: '/run/netns/x' });
  assert.deepEqual((s.linux.resources as Record<string, unknown>).pids, { limit: 256 });
  assert.ok((s.linux.maskedPaths as string[]).includes('/proc/kcore'));
});

test('/tmp is a sized tmpfs mounted before the binds, so a bind under the host /tmp stays visible', () => {
  const m = spec().mounts;
  const tmp = m.findIndex((x) => x.destination === '/tmp');
  const build = m.findIndex((x) => x.destination === '/tmp/builds/b1');
  assert.equal(m[tmp]!.type, 'tmpfs');
  assert.ok(m[tmp]!.options.includes('size=524288k'));
  assert.ok(tmp < build, 'tmpfs first');
  assert.ok(m[build]!.options.includes('rw') && m.filter((x) => x.destination === '/usr')[0]!.options.includes('ro'));
  for (const x of m.filter((y) => y.type === 'bind')) assert.ok(x.options.includes('nosuid') && x.options.includes('nodev'));
});

test('the stack binds /usr and a short list of /etc, never /etc itself; merged-/usr links stay links', async () => {
  const root = await mkdtemp(join(tmpdir(), 'dm-stack-'));
  await mkdir(join(root, 'usr/bin'), { recursive: true });
  await mkdir(join(root, 'etc/ssl'), { recursive: true });
  await mkdir(join(root, 'etc/dynomesh'), { recursive: true });
  await writeFile(join(root, 'etc/shadow'), 'root:secret');
  await writeFile(join(root, 'etc/resolv.conf'), 'nameserver 127.0.0.53\n');
  await mkdir(join(root, 'run/systemd/resolve'), { recursive: true });
  await writeFile(join(root, 'run/systemd/resolve/resolv.conf'), 'nameserver 10.0.0.2\nnameserver 127.0.0.1\n');
  await symlink('usr/bin', join(root, 'bin'));
  const s = hostStack(root);
  const dests = s.mounts.map((m) => m.destination);
  assert.ok(dests.includes('/usr') && dests.includes('/etc/ssl'));
  assert.ok(!dests.some((d) => d === '/etc' || d === '/etc/dynomesh' || d === '/etc/shadow'), dests.join(' '));
  assert.deepEqual(s.links, [{ name: 'bin', target: join(root, 'usr/bin').slice(1) }]);
  assert.deepEqual(hostResolvers(root), ['10.0.0.2'], 'a loopback stub resolver is replaced by its upstreams');
});

test('allow rules parse or say how to write them; overlapping blocks collapse', () => {
  assert.deepEqual(parseAllow('10.0.5.0/24:5432'), { cidr: '10.0.5.0/24', port: 5432, why: 'operator allowlist' });
  assert.deepEqual(parseAllow('10.0.5.7'), { cidr: '10.0.5.7', why: 'operator allowlist' });
  assert.throws(() => parseAllow('10.0.5.0/33'), /e\.g\. 10\.0\.5\.0\/24:5432/);
  assert.throws(() => parseAllow('db.internal:5432'), /IPv4 address or CIDR/);
  assert.ok(overlaps('10.231.0.0/16', '10.231.7.1/24') && !overlaps('10.231.0.0/16', '10.232.0.1/16'));
  assert.deepEqual(disjoint(['10.0.0.0/8', '10.1.2.0/24', '192.0.2.0/24', '192.0.2.0/24']), ['10.0.0.0/8', '192.0.2.0/24']);
  const r = ruleset({ table: 't', bridge: 'dm-x', alsoBlocked: ['192.0.2.0/24'] }, [{ cidr: '10.9.9.9', port: 5432, proto: 'tcp', why: 'pg' }]);
  // Allowed before the private-range drop, in both chains; the host's own subnet is dropped too.
  assert.ok(r.indexOf('ip daddr 10.9.9.9 tcp dport 5432 accept') < r.indexOf('private, loopback'));
  assert.equal(r.match(/10\.9\.9\.9/g)!.length, 2);
  assert.match(r, /192\.0\.2\.0\/24 \}/);
});
