/**
 * CPU placement, explicit and printed: the proxy under test alone on one core, the load
 * generator and the backend sharing the other (layout B of the anchors). Every target
 * gets the same placement; "direct" has no proxy, so its core stays idle.
 */
import { availableParallelism } from 'node:os';
import { spawnSync } from 'node:child_process';

export interface Placement {
  /** taskset -c list for the proxy (nginx, haproxy, router); undefined = not pinned. */
  proxy: string | undefined;
  /** For a router with several workers: the cores it may spread over. */
  proxyWide: string | undefined;
  loadgen: string | undefined;
  backend: string | undefined;
  etcd: string | undefined;
  cores: number;
  note: string;
}

export function planPlacement(cores = availableParallelism(), tasksetOk = hasTaskset()): Placement {
  if (!tasksetOk) {
    return { proxy: undefined, proxyWide: undefined, loadgen: undefined, backend: undefined, etcd: undefined, cores,
      note: 'taskset not found (util-linux): processes are NOT pinned; numbers mix proxy and load-generator CPU' };
  }
  if (cores < 2) {
    return { proxy: undefined, proxyWide: undefined, loadgen: undefined, backend: undefined, etcd: undefined, cores,
      note: 'one core only: everything shares it; compare ratios, not absolute numbers' };
  }
  const all = `0-${cores - 1}`;
  return {
    proxy: '1', proxyWide: all, loadgen: '0', backend: '0', etcd: '0', cores,
    note: `proxy alone on core 1; load generator + backend (+ etcd, idle during load) on core 0${cores > 2 ? `; cores 2-${cores - 1} unused` : ''}`,
  };
}

export function describePlacement(p: Placement): string {
  const c = (s: string | undefined) => (s === undefined ? 'any' : `core ${s}`);
  return `placement (taskset): proxy ${c(p.proxy)} | load generator ${c(p.loadgen)} | backend ${c(p.backend)} | ${p.note}`;
}

function hasTaskset(): boolean {
  return spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}

/** Pin this process (all its threads, and threads it starts later) to `cores`. */
export function pinSelf(cores: string | undefined): void {
  if (!cores) return;
  const r = spawnSync('taskset', ['-a', '-p', '-c', cores, String(process.pid)], { encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write(`bench: could not pin the load generator to core ${cores}: ${r.stderr.trim()}\n`);
}
