/**
 * Child processes the bench starts: pinned with taskset, tracked so that every one is
 * stopped on exit, Ctrl-C or error, and sampled from /proc for CPU use.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { openSync, readFileSync, readdirSync, closeSync } from 'node:fs';
import { connect } from 'node:net';

const live = new Set<ChildProcess>();
const adopted = new Set<number>();
const exitHooks: Array<() => void> = [];
let hooked = false;

/** Kill `pid` too if the bench is interrupted (processes started by other helpers, e.g. etcd). */
export function adoptPid(pid: number | undefined): void {
  hookExit();
  if (pid) adopted.add(pid);
}

export function forgetPid(pid: number | undefined): void {
  if (pid) adopted.delete(pid);
}

/** Track a child spawned with `detached: true` so an interrupt kills its whole process group. */
export function track(child: ChildProcess): void {
  hookExit();
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** Synchronous cleanup to run when the bench exits or is interrupted (temp dirs). */
export function atExit(fn: () => void): void {
  hookExit();
  exitHooks.push(fn);
}

/** Kill every child still running (process group first, so shells take their children along). */
export function killAll(signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const pid of adopted) {
    try { process.kill(pid, signal); } catch { /* already gone */ }
  }
  adopted.clear();
  for (const c of live) {
    try {
      if (c.pid) process.kill(-c.pid, signal);
    } catch {
      try { c.kill(signal); } catch { /* already gone */ }
    }
  }
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    killAll();
    for (const fn of exitHooks.splice(0)) {
      try { fn(); } catch { /* best effort */ }
    }
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping everything it started\n`);
      process.exit(130); // the 'exit' hook kills children and removes temp dirs
    });
  }
}

export interface Started {
  child: ChildProcess;
  pid: number;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * Spawn `cmd args` pinned to `cores` (taskset -c), in its own process group,
 * stdout/stderr appended to `logFile` (or ignored).
 */
export function startPinned(cores: string | undefined, cmd: string, args: string[], opts: { logFile?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Started {
  hookExit();
  const argv = cores ? ['-c', cores, cmd, ...args] : args;
  const bin = cores ? 'taskset' : cmd;
  let fd: number | undefined;
  const so: SpawnOptions = { detached: true, env: opts.env ?? process.env, cwd: opts.cwd, stdio: 'ignore' };
  if (opts.logFile) {
    fd = openSync(opts.logFile, 'w');
    so.stdio = ['ignore', fd, fd];
  }
  const child = spawn(bin, argv, so);
  if (fd !== undefined) closeSync(fd);
  live.add(child);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => { live.delete(child); resolve(code); });
    child.once('error', () => { live.delete(child); resolve(-1); });
  });
  const stop = async (): Promise<void> => {
    if (!live.has(child)) return;
    try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
    const t = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 3000);
    await exited;
    clearTimeout(t);
  };
  return { child, pid: child.pid ?? -1, exited, stop };
}

/** Wait until something accepts TCP on host:port, or throw naming `what` (and its log). */
export async function waitForPort(port: number, what: string, opts: { host?: string; timeoutMs?: number; exited?: Promise<unknown>; logFile?: string } = {}): Promise<void> {
  const host = opts.host ?? '127.0.0.1';
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let dead = false;
  void opts.exited?.then(() => { dead = true; });
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, host);
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    const tail = opts.logFile ? `; last output: ${tailOf(opts.logFile, 300)}` : '';
    if (dead) throw new Error(`${what} exited before listening on ${host}:${port}${tail}`);
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${host}:${port} in time${tail}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function tailOf(file: string, chars = 600): string {
  try {
    const s = readFileSync(file, 'utf8');
    return s.slice(-chars).trim().replace(/\s+/g, ' ') || '(empty)';
  } catch {
    return '(no log)';
  }
}

/** Direct children of a process (from /proc/<pid>/task/<tid>/children). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const s = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (s) out.push(...s.split(/\s+/).map(Number));
    }
  } catch { /* gone */ }
  return out;
}

/** utime+stime of a process and its threads, in seconds (from /proc/<pid>/stat). */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields after ")" start at index 3 (state); utime is field 14, stime 15 (1-based).
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}
const CLK_TCK = 100;

/** Busy and total jiffies per CPU from /proc/stat (cpu0, cpu1, ...). */
export function coreTimes(stat = readProcStat()): Array<{ busy: number; total: number }> {
  const out: Array<{ busy: number; total: number }> = [];
  for (const m of stat.matchAll(/^cpu(\d+) (.*)$/gm)) {
    const f = m[2]!.trim().split(/\s+/).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
    out[Number(m[1])] = { busy: total - f[3]! - f[4]!, total };
  }
  return out;
}

function readProcStat(): string {
  try { return readFileSync('/proc/stat', 'utf8'); } catch { return ''; }
}

/** Percent busy of each core between two coreTimes() samples. */
export function coreBusyPct(a: ReturnType<typeof coreTimes>, b: ReturnType<typeof coreTimes>): number[] {
  return b.map((x, i) => {
    const dt = x.total - (a[i]?.total ?? 0);
    return dt > 0 ? Math.round(((x.busy - (a[i]?.busy ?? 0)) / dt) * 100) : NaN;
  });
}

/**
 * Measures the share of one core a set of processes used between start() and stop(),
 * and how busy each core was in all (so work by others on the machine shows up).
 */
export class CpuMeter {
  private before = new Map<string, number>();
  private cores0: ReturnType<typeof coreTimes> = [];
  private t0 = 0;
  /** Percent busy per core over the last start()..stop(), whoever used it. */
  coreBusy: number[] = [];
  constructor(private readonly pids: Record<string, number>) {}
  start(): void {
    this.t0 = performance.now();
    this.cores0 = coreTimes();
    for (const [k, pid] of Object.entries(this.pids)) this.before.set(k, cpuSeconds(pid) ?? NaN);
  }
  /** Percent of one core per process name. */
  stop(): Record<string, number> {
    const wall = (performance.now() - this.t0) / 1000;
    this.coreBusy = coreBusyPct(this.cores0, coreTimes());
    const out: Record<string, number> = {};
    for (const [k, pid] of Object.entries(this.pids)) {
      const after = cpuSeconds(pid);
      const b = this.before.get(k);
      if (after !== undefined && b !== undefined && Number.isFinite(b)) out[k] = Math.round(((after - b) / wall) * 1000) / 10;
    }
    return out;
  }
}
