/**
 * Memory: a dyno allocating past its quota gets R14, and at 2x R15 (killed).
 * Both enforcement paths run: the memory cgroup (when this host lets the agent
 * create one; the test says which) and RSS polling of the process group.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmdir } from 'node:fs/promises';
import { pino } from 'pino';
import { captureLog } from '../support/capture-log.ts';
import { useEtcd, eventually } from '../support/etcd.ts';
import { detectCgroups } from '../../dyno-node/memory.ts';
import type { MemoryMode } from '../../dyno-node/memory.ts';
import { HOG_APP, makeSlug, place, putRelease } from './fixtures.ts';
import { startAgent } from './harness.ts';
import { statusOf } from '../support/dyno-keys.ts';

const etcd = useEtcd();

async function hog(mode: MemoryMode) {
  const cluster = etcd.cluster();
  const { log, lines: logLines } = captureLog();
  const h = await startAgent(cluster, { memoryMode: mode, coolOffsMs: [60_000], log });
  try {
    const s = await makeSlug({ Procfile: 'worker: node hog.js\n', 'hog.js': HOG_APP });
    h.slugs.add(s);
    await putRelease(cluster, h.key, 'hog', 1, s.slug, { worker: 'node hog.js' });
    await place(cluster, h.nodeId, { app: 'hog', dyno: 'worker.1', release: 1, memoryMb: 64 });
    await h.waitLine('hog', 'worker.1', /^Error R14 \(Memory quota exceeded\)$/, 20_000);
    await h.waitLine('hog', 'worker.1', /^Error R15 \(Memory quota vastly exceeded\)$/, 20_000);
    const st = await eventually(async () => {
      const e = await statusOf(cluster, 'hog', 'worker.1');
      return e?.value.state === 'crashed' ? e : undefined;
    }, 20_000, 'crashed');
    assert.equal(st.value.exitCode, 137, 'SIGKILL');
    const rss = h.lines('hog', 'worker.1').filter((l) => l.source === 'app').map((l) => Number(/rss=(\d+)M/.exec(l.line)?.[1] ?? 0));
    const r15 = logLines.find((l) => l.msg === 'dyno-memory-over-quota' && l.code === 'R15');
    return { h, maxRss: Math.max(...rss), lines: h.lines('hog', 'worker.1').map((l) => l.line), killedBy: r15?.killedBy };
  } finally {
    await h.stop();
  }
}

describe('dyno memory limits', () => {
  test('cgroup path: the kernel enforces 2x quota in the dyno cgroup, the agent reports R14 then R15', async (t) => {
    const base = await detectCgroups('probe', pino({ level: 'silent' }));
    if (!base) return t.skip('no writable memory cgroup on this host (the rss test covers the fallback)');
    await rmdir(base.dir).catch(() => undefined);
    t.diagnostic(`path taken: cgroup ${base.kind} under ${base.dir.replace(/\/dynomesh-probe$/, '')}`);
    const { maxRss, lines, killedBy } = await hog('cgroup');
    assert.equal(killedBy, 'kernel', 'the cgroup limit did the kill');
    // RSS also counts node's own mapped binary, which is page cache charged elsewhere: allow for it.
    assert.ok(maxRss < 2 * 64 + 48, `killed near 128 MB of anonymous memory (last reported rss ${maxRss} MB)`);
    assert.ok(lines.some((l) => /^Process running mem=\d+M\(\d+\.\d%\)$/.test(l)));
  });

  test('rss path: polling the process group, the agent kills the dyno at 2x quota', async (t) => {
    t.diagnostic('path taken: RSS polling of the process group (/proc)');
    const { maxRss, lines, killedBy } = await hog('rss');
    assert.equal(killedBy, 'agent', 'the agent did the kill');
    assert.ok(maxRss >= 64, `went over quota (${maxRss} MB) before the kill`);
    // How far past 128 MB it gets depends on how busy the host is between polls; it must not get far.
    assert.ok(maxRss < 700, `killed after 128 MB, well before the hog's own cap (last reported rss ${maxRss} MB)`);
    assert.ok(lines.includes('Stopping process with SIGKILL'));
  });
});
