import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coreTimes, coreBusyPct, cpuSeconds } from '../../bench/proc.ts';
import { planPlacement, describePlacement } from '../../bench/placement.ts';

const STAT = (u0: number, i0: number, u1: number, i1: number) => `cpu  1 2 3 4 5 6 7 8 0 0
cpu0 ${u0} 0 10 ${i0} 0 0 0 0 0 0
cpu1 ${u1} 0 10 ${i1} 0 0 0 0 0 0
intr 123
`;

test('per-core busy percent from two /proc/stat samples', () => {
  const a = coreTimes(STAT(100, 1000, 100, 1000));
  const b = coreTimes(STAT(190, 1010, 110, 1090)); // core 0: 90 busy of 100; core 1: 10 of 100
  assert.deepEqual(a[0], { busy: 110, total: 1110 });
  assert.deepEqual(coreBusyPct(a, b), [90, 10]);
});

test('CPU seconds of a live process, undefined for a gone one', () => {
  assert.ok(cpuSeconds(process.pid)! >= 0);
  assert.equal(cpuSeconds(2 ** 22 + 12345), undefined);
});

test('placement: proxy alone on core 1, the rest on core 0; none on one core', () => {
  const two = planPlacement(2, true);
  assert.deepEqual([two.proxy, two.loadgen, two.backend, two.etcd, two.proxyWide], ['1', '0', '0', '0', '0-1']);
  assert.match(describePlacement(two), /proxy core 1 \| load generator core 0 \| backend core 0/);
  const one = planPlacement(1, true);
  assert.equal(one.proxy, undefined);
  assert.match(describePlacement(one), /one core only/);
  assert.match(planPlacement(4, false).note, /taskset not found/);
});
