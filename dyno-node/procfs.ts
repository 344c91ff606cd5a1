/**
 * Reading /proc: which processes belong to a dyno's process group, whether a
 * pid from a previous agent run is still the same process (start time guards
 * against pid reuse), and the resident memory of a dyno's processes.
 */
import { readdir, readFile } from 'node:fs/promises';

export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgid: number;
  /** Clock ticks after boot; with the pid, identifies one process for its lifetime. */
  startTime: number;
  rssBytes: number;
}

const PAGE = 4096;

export async function procStat(pid: number): Promise<ProcStat | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parens; fields resume after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    state: f[0]!,
    ppid: Number(f[1]),
    pgid: Number(f[2]),
    startTime: Number(f[19]),
    rssBytes: Number(f[21]) * PAGE,
  };
}

/** Live (non-zombie) processes whose process group is `pgid`. */
export async function groupMembers(pgid: number): Promise<ProcStat[]> {
  const out: ProcStat[] = [];
  for (const name of await readdir('/proc')) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    const s = await procStat(Number(name));
    if (s && s.pgid === pgid && s.state !== 'Z' && s.state !== 'X') out.push(s);
  }
  return out;
}

export async function groupAlive(pgid: number): Promise<boolean> {
  return (await groupMembers(pgid)).length > 0;
}

/** True when `pid` is alive and is the process that started at `startTime`. */
export async function sameProcess(pid: number, startTime: number): Promise<boolean> {
  const s = await procStat(pid);
  return !!s && s.startTime === startTime && s.state !== 'Z' && s.state !== 'X';
}

let snapshot: { at: number; stats: Promise<ProcStat[]> } | undefined;

/** Every process's stat, shared by all dynos' memory polls within `maxAgeMs` (one /proc walk, not one per dyno). */
async function allProcs(maxAgeMs: number): Promise<ProcStat[]> {
  if (!snapshot || Date.now() - snapshot.at > maxAgeMs) {
    const stats = (async () => {
      const out: ProcStat[] = [];
      for (const name of await readdir('/proc')) {
        if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
        const s = await procStat(Number(name));
        if (s) out.push(s);
      }
      return out;
    })();
    snapshot = { at: Date.now(), stats };
  }
  return snapshot.stats;
}

/** Resident memory of every process in the group (the RSS fallback when no cgroup is ours). */
export async function groupRss(pgid: number, maxAgeMs = 200): Promise<number> {
  let sum = 0;
  for (const s of await allProcs(maxAgeMs)) if (s.pgid === pgid && s.state !== 'Z') sum += s.rssBytes;
  return sum;
}

/** Signal a whole process group; false when it no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Polls until no live process is left in the group; false if `ms` passed first. */
export async function waitGroupGone(pgid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await groupAlive(pgid))) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !(await groupAlive(pgid));
}
