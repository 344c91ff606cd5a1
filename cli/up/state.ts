/**
 * `<home>/up.json`: what the running `dynomesh up` started (its pid, its
 * children, the ports it chose), so a second `up` refuses to start twice,
 * `dynomesh down` knows whom to signal, the next start reuses etcd's ports, and
 * daemons left behind by an `up` that was killed outright are stopped.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface UpState {
  pid?: number;
  startedAt?: number;
  apiUrl?: string;
  routerUrl?: string;
  etcd?: { clientPort: number; peerPort: number };
  children?: { name: string; pid: number }[];
}

export const statePath = (home: string) => join(home, 'up.json');

export function readState(home: string): UpState {
  try {
    return JSON.parse(readFileSync(statePath(home), 'utf8')) as UpState;
  } catch {
    return {};
  }
}

export function writeState(home: string, s: UpState): void {
  writeFileSync(statePath(home), JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
}

export function clearPid(home: string): void {
  const s = readState(home);
  delete s.pid;
  delete s.children;
  if (Object.keys(s).length) writeState(home, s);
  else rmSync(statePath(home), { force: true });
}

/** True when `pid` is alive and runs dynomesh (not an unrelated process that reused the pid). */
export function isDynomesh(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('dynomesh') || cmd.includes('etcd');
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/** Stops daemons a killed `up` left behind: SIGTERM, then SIGKILL after `graceMs`. */
export async function reapLeftovers(s: UpState, graceMs = 15_000): Promise<string[]> {
  const alive = (s.children ?? []).filter((c) => isDynomesh(c.pid));
  for (const c of alive) {
    try {
      process.kill(c.pid, 'SIGTERM');
    } catch {
      /* gone meanwhile */
    }
  }
  const deadline = Date.now() + graceMs;
  while (alive.some((c) => isDynomesh(c.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const c of alive) {
    try {
      if (isDynomesh(c.pid)) process.kill(-c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return alive.map((c) => c.name);
}
