/**
 * Dyno memory: Heroku's rules (R14 over the quota, R15 kill at 2x) enforced by
 * a per-dyno memory cgroup when this host lets us make one (v1 or v2), else by
 * polling the RSS of the dyno's process group.
 *
 * With a cgroup the hard limit is 2x the quota, so the kernel does the R15 kill
 * (we notice it through the oom_kill counter). We do not set v2 `memory.high`
 * at the quota: with no swap it throttles the dyno into a crawl, where Heroku
 * lets it run (swapping) and only logs R14.
 */
import { appendFile, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import type { Logger } from '../lib/log.ts';
import { groupRss } from './procfs.ts';

export type MemoryMode = 'auto' | 'cgroup' | 'rss';

export interface CgroupBase {
  kind: 'v1' | 'v2';
  /** Directory under which this agent makes one cgroup per dyno. */
  dir: string;
  /** The same, relative to the hierarchy's root: what an OCI runtime's `cgroupsPath` names. */
  path: string;
}

async function text(path: string): Promise<string> {
  return readFile(path, 'utf8');
}

function statField(stat: string, name: string): number {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(stat);
  return m ? Number(m[1]) : 0;
}

/**
 * v2 allows controllers in a cgroup's children only when the cgroup itself holds
 * no processes. Under systemd with `Delegate=yes` the agent sits in its service's
 * cgroup, so it first moves itself into a leaf (`agent`), as delegated managers do.
 */
async function enableMemory(own: string): Promise<void> {
  if ((await text(`${own}/cgroup.subtree_control`)).split(/\s+/).includes('memory')) return;
  try {
    await writeFile(`${own}/cgroup.subtree_control`, '+memory');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
    await mkdir(`${own}/agent`, { recursive: true });
    await writeFile(`${own}/agent/cgroup.procs`, String(process.pid));
    await writeFile(`${own}/cgroup.subtree_control`, '+memory');
  }
}

/** Finds a memory cgroup hierarchy we may write to, nested under the agent's own cgroup. */
export async function detectCgroups(nodeId: string, log: Logger): Promise<CgroupBase | undefined> {
  let self: string, mounts: string;
  try {
    self = await text('/proc/self/cgroup');
    mounts = await text('/proc/self/mountinfo');
  } catch {
    return undefined;
  }
  const name = `dynomesh-${nodeId.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
  const lines = mounts.split('\n').map((l) => l.split(' '));
  // v1: a hierarchy mounted with the memory controller.
  const v1Path = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/m.exec(self)?.[1];
  const v1Mount = lines.find((f) => f[f.indexOf('-') + 1] === 'cgroup' && (f.at(-1) ?? '').split(',').includes('memory'))?.[4];
  if (v1Path !== undefined && v1Mount) {
    const dir = `${v1Mount}${v1Path === '/' ? '' : v1Path}/${name}`;
    try {
      await mkdir(dir, { recursive: true });
      if (existsSync(`${dir}/memory.limit_in_bytes`)) return { kind: 'v1', dir, path: `${v1Path === '/' ? '' : v1Path}/${name}` };
    } catch (err) {
      log.debug({ dir, err: (err as Error).message }, 'cgroup-v1-not-writable');
    }
  }
  // v2: the unified hierarchy, if it offers the memory controller to our subtree.
  const v2Path = /^0::(.*)$/m.exec(self)?.[1];
  const v2Mount = lines.find((f) => f[f.indexOf('-') + 1] === 'cgroup2')?.[4];
  if (v2Path !== undefined && v2Mount) {
    const own = `${v2Mount}${v2Path === '/' ? '' : v2Path}`;
    const dir = `${own}/${name}`;
    try {
      if (!(await text(`${own}/cgroup.controllers`)).split(/\s+/).includes('memory')) throw new Error('memory controller not delegated');
      await enableMemory(own);
      await mkdir(dir, { recursive: true });
      await writeFile(`${dir}/cgroup.subtree_control`, '+memory');
      // Containers also get pids and CPU limits when the host delegates those controllers.
      for (const c of ['pids', 'cpu']) {
        await writeFile(`${own}/cgroup.subtree_control`, `+${c}`).catch(() => undefined);
        await writeFile(`${dir}/cgroup.subtree_control`, `+${c}`).catch(() => undefined);
      }
      return { kind: 'v2', dir, path: `${v2Path === '/' ? '' : v2Path}/${name}` };
    } catch (err) {
      log.debug({ dir, err: (err as Error).message }, 'cgroup-v2-not-usable');
    }
  }
  return undefined;
}

/** One dyno's memory cgroup. */
export class DynoCgroup {
  private constructor(readonly kind: 'v1' | 'v2', readonly path: string) {}

  static async create(base: CgroupBase, name: string, limitBytes: number): Promise<DynoCgroup> {
    const path = `${base.dir}/${name}`;
    await mkdir(path, { recursive: true });
    if (base.kind === 'v1') {
      await writeFile(`${path}/memory.limit_in_bytes`, String(limitBytes));
      // Without this, a host with swap would let the dyno grow past the limit into swap.
      await writeFile(`${path}/memory.memsw.limit_in_bytes`, String(limitBytes)).catch(() => undefined);
    } else {
      await writeFile(`${path}/memory.max`, String(limitBytes));
      await writeFile(`${path}/memory.swap.max`, '0').catch(() => undefined);
    }
    return new DynoCgroup(base.kind, path);
  }

  /** Re-attach to the cgroup of a dyno a previous agent run started. */
  static open(kind: 'v1' | 'v2', path: string): DynoCgroup | undefined {
    return existsSync(path) ? new DynoCgroup(kind, path) : undefined;
  }

  /** Every process in the cgroup, including ones that left the dyno's process group (setsid). */
  async pids(): Promise<number[]> {
    const text = await readFile(`${this.path}/cgroup.procs`, 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).map(Number);
  }

  async join(pid: number): Promise<void> {
    await appendFile(`${this.path}/cgroup.procs`, String(pid));
  }

  /** Anonymous memory plus swap: what the dyno itself uses, not page cache. */
  async usage(): Promise<number> {
    const stat = await text(`${this.path}/memory.stat`);
    if (this.kind === 'v1') return statField(stat, 'total_rss') + statField(stat, 'total_swap');
    const swap = Number(await text(`${this.path}/memory.swap.current`).catch(() => '0'));
    return statField(stat, 'anon') + swap;
  }

  /** How many processes the kernel OOM-killed in this cgroup. */
  async oomKills(): Promise<number> {
    const f = this.kind === 'v1' ? 'memory.oom_control' : 'memory.events';
    return statField(await text(`${this.path}/${f}`).catch(() => ''), 'oom_kill');
  }

  async remove(): Promise<void> {
    // A cgroup can only be removed once empty; the last process may take a moment to be reaped.
    for (let i = 0; i < 20; i++) {
      try {
        await rmdir(this.path);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}

export type MemoryEvent =
  | { kind: 'R14'; usedBytes: number; quotaBytes: number }
  | { kind: 'R15'; usedBytes: number; quotaBytes: number; by: 'kernel' | 'agent' };

/** Heroku's log lines for a memory event (`heroku[web.1]: Error R14 ...`). */
export function memoryLines(e: MemoryEvent): string[] {
  const mb = (b: number) => `${Math.round(b / 1048576)}M`;
  const lines = [`Process running mem=${mb(e.usedBytes)}(${((100 * e.usedBytes) / e.quotaBytes).toFixed(1)}%)`];
  if (e.kind === 'R14') lines.push('Error R14 (Memory quota exceeded)');
  else lines.push('Error R15 (Memory quota vastly exceeded)', 'Stopping process with SIGKILL');
  return lines;
}

/**
 * Polls one dyno's memory and reports R14/R15. In RSS mode it also performs the
 * R15 kill itself (`kill` callback); with a cgroup the kernel already has.
 */
export class MemoryGuard {
  private timer: NodeJS.Timeout | undefined;
  private lastR14 = 0;
  private oomSeen = 0;
  private busy = false;

  constructor(
    private readonly quotaBytes: number,
    private readonly source: { cgroup: DynoCgroup } | { pgid: number },
    private readonly onEvent: (e: MemoryEvent) => void,
    private readonly kill: () => void,
    private readonly pollMs = 1000,
    /** Heroku repeats R14 while a dyno stays over its quota. */
    private readonly r14EveryMs = 20_000,
  ) {}

  get mode(): 'cgroup' | 'rss' {
    return 'cgroup' in this.source ? 'cgroup' : 'rss';
  }

  async start(): Promise<void> {
    if ('cgroup' in this.source) this.oomSeen = await this.source.cgroup.oomKills();
    this.timer = setInterval(() => void this.check(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Whether the kernel OOM-killed something since start (used to name an exit R15). */
  async kernelKilled(): Promise<boolean> {
    return 'cgroup' in this.source && (await this.source.cgroup.oomKills()) > this.oomSeen;
  }

  private async check(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const used = 'cgroup' in this.source ? await this.source.cgroup.usage() : await groupRss(this.source.pgid);
      if ('cgroup' in this.source) {
        const ooms = await this.source.cgroup.oomKills();
        if (ooms > this.oomSeen) {
          this.oomSeen = ooms;
          this.onEvent({ kind: 'R15', usedBytes: used, quotaBytes: this.quotaBytes, by: 'kernel' });
          this.kill(); // the kernel may have killed only one process of the dyno; a dyno goes as a whole
          return;
        }
      } else if (used > 2 * this.quotaBytes) {
        this.onEvent({ kind: 'R15', usedBytes: used, quotaBytes: this.quotaBytes, by: 'agent' });
        this.kill();
        return;
      }
      if (used > this.quotaBytes && Date.now() - this.lastR14 >= this.r14EveryMs) {
        this.lastR14 = Date.now();
        this.onEvent({ kind: 'R14', usedBytes: used, quotaBytes: this.quotaBytes });
      }
    } catch {
      // The cgroup or process vanished between polls; the exit path reports it.
    } finally {
      this.busy = false;
    }
  }
}
