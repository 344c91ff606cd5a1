/**
 * The cgroup files a dyno's limit is written to and read from, for v1 and v2,
 * against a plain directory standing in for the cgroup filesystem (this sandbox
 * only has v1 memory; memory.test.ts runs the real v1 kernel path).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { DynoCgroup, memoryLines } from '../../dyno-node/memory.ts';

test('v2: memory.max at 2x quota, no swap; usage = anon + swap; OOM kills from memory.events', async () => {
  const base = await mkdtemp(`${tmpdir()}/dm-cg2-`);
  try {
    const cg = await DynoCgroup.create({ kind: 'v2', dir: base, path: '' }, 'shop.web.1.v1-abc', 2 * 512 * 1048576);
    assert.equal(await readFile(`${cg.path}/memory.max`, 'utf8'), String(1024 * 1048576));
    assert.equal(await readFile(`${cg.path}/memory.swap.max`, 'utf8'), '0');
    await writeFile(`${cg.path}/memory.stat`, 'anon 1000\nfile 99999\nkernel 5\n');
    await writeFile(`${cg.path}/memory.swap.current`, '24\n');
    assert.equal(await cg.usage(), 1024, 'page cache does not count');
    await writeFile(`${cg.path}/memory.events`, 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    assert.equal(await cg.oomKills(), 1);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('v1: memory.limit_in_bytes and memsw at 2x quota; usage = total_rss + total_swap; oom_kill from oom_control', async () => {
  const base = await mkdtemp(`${tmpdir()}/dm-cg1-`);
  try {
    const cg = await DynoCgroup.create({ kind: 'v1', dir: base, path: '' }, 'shop.web.1.v1-abc', 1024 * 1048576);
    assert.equal(await readFile(`${cg.path}/memory.limit_in_bytes`, 'utf8'), String(1024 * 1048576));
    assert.equal(await readFile(`${cg.path}/memory.memsw.limit_in_bytes`, 'utf8'), String(1024 * 1048576));
    await writeFile(`${cg.path}/memory.stat`, 'cache 5000\nrss 10\ntotal_cache 5000\ntotal_rss 2048\ntotal_swap 2048\n');
    assert.equal(await cg.usage(), 4096);
    await writeFile(`${cg.path}/memory.oom_control`, 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    assert.equal(await cg.oomKills(), 2);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('R14/R15 lines read like Heroku', () => {
  assert.deepEqual(memoryLines({ kind: 'R14', usedBytes: 600 * 1048576, quotaBytes: 512 * 1048576 }), [
    'Process running mem=600M(117.2%)', 'Error R14 (Memory quota exceeded)',
  ]);
  assert.deepEqual(memoryLines({ kind: 'R15', usedBytes: 1100 * 1048576, quotaBytes: 512 * 1048576, by: 'agent' }), [
    'Process running mem=1100M(214.8%)', 'Error R15 (Memory quota vastly exceeded)', 'Stopping process with SIGKILL',
  ]);
});
