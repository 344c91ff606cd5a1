/**
 * One bridge is one address space: two daemons on it (two state dirs: tests, `up` beside a
 * hand-started dyno-node, a node whose data dir was wiped while its dynos ran) never get the
 * same container address, and a lease whose namespace is gone is taken back by the next sweep,
 * while one held by another daemon's live namespace is left alone. Real CNI plugins; needs root.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniNetwork } from '../../container/network.ts';

const root = process.getuid?.() === 0;
const NAME = 'dynomesh-addrtest';
const BRIDGE = 'dm-addrtest';
const SUBNET = '10.226.0.0/24';

describe('container addresses on a shared bridge', { skip: !root && 'needs root (ip netns, CNI)' }, () => {
  const ipamDir = mkdtempSync(join(tmpdir(), 'dm-ipam-'));
  const net = (daemon: string) => new CniNetwork({ name: NAME, bridge: BRIDGE, subnet: SUBNET, cniPath: '/usr/lib/cni', ipamDir, netnsPrefix: `dm-addrtest-${daemon}-` });
  const a = net('a');
  const b = net('b');
  after(async () => {
    for (const n of [a, b]) for (const id of ['one', 'two', 'three']) await n.detach(id);
    execFileSync('ip', ['link', 'delete', BRIDGE], { stdio: 'ignore' });
    rmSync(ipamDir, { recursive: true, force: true });
  });

  test('two daemons get distinct addresses; a sweep frees only leases no namespace holds', async () => {
    const one = await a.attach('one');
    const two = await b.attach('two');
    const three = await b.attach('three');
    assert.equal(new Set([one.address, two.address, three.address]).size, 3, `addresses: ${one.address} ${two.address} ${three.address}`);

    // Daemon b dies without cleaning up: "three"'s namespace goes, its lease stays.
    execFileSync('ip', ['netns', 'delete', b.netnsName('three')]);
    const swept = await a.sweep(new Set(['one']));
    assert.deepEqual(swept, ['three'], 'the orphaned lease is taken back; b\'s live "two" is not touched');
    const leases = [...(await a.leases()).values()].sort();
    assert.deepEqual(leases, ['one', 'two']);
    assert.ok(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(b.netnsName('two')));
  });
});
