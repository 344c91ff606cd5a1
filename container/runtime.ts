/**
 * The OCI runtime (runc or crun) that runs tenant containers. We never make
 * namespaces ourselves: the runtime does, from the bundle's config.json.
 *
 * A container runs as `<runtime> run` in the foreground: the runtime process is
 * the container's parent, so its exit status is the tenant's (143 after SIGTERM),
 * signals sent to it reach the container, and the container is deleted when it
 * ends. Our own containers live under a separate state root, so `list` and the
 * sweep after a crash see only them.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export type RuntimeName = 'runc' | 'crun';

export interface RuntimeInfo {
  name: RuntimeName;
  path: string;
  version: string;
}

const SEARCH = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/sbin', '/bin'];

export function findBinary(name: string): string | undefined {
  for (const d of SEARCH) if (existsSync(`${d}/${name}`)) return `${d}/${name}`;
  return undefined;
}

/**
 * cgroup v1 controllers mounted beside a v2 hierarchy: crun (1.8) refuses such
 * hosts ("cgroups in hybrid mode not supported"), runc runs on them.
 */
export function hybridCgroups(mountinfo = safeRead('/proc/self/mountinfo')): boolean {
  const types = mountinfo.split('\n').map((l) => l.split(' - ')[1]?.split(' ')[0]);
  return types.includes('cgroup') && types.includes('cgroup2');
}

function safeRead(f: string): string {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
}

/** The runtime to use: the one asked for, or the first that runs on this host (crun, else runc). */
export async function detectRuntime(want: RuntimeName | 'auto' = 'auto'): Promise<RuntimeInfo> {
  const order: RuntimeName[] = want === 'auto' ? (hybridCgroups() ? ['runc'] : ['crun', 'runc']) : [want];
  const tried: string[] = [];
  for (const name of order) {
    const path = findBinary(name);
    if (!path) {
      tried.push(`${name}: not installed`);
      continue;
    }
    if (name === 'crun' && hybridCgroups()) {
      tried.push('crun: refuses hosts with hybrid cgroups (v1 + v2)');
      continue;
    }
    const { stdout } = await exec(path, ['--version']);
    return { name, path, version: /version\s+(\S+)/.exec(stdout)?.[1] ?? stdout.split('\n')[0]!.trim() };
  }
  throw new Error(`no OCI runtime runs here (${tried.join('; ')}); install one with: apt-get install runc`);
}

export interface ContainerState {
  id: string;
  pid: number;
  status: string;
  bundle: string;
}

export class OciRuntime {
  constructor(readonly info: RuntimeInfo, readonly stateRoot: string) {}

  /** argv (after the binary) that runs the bundle in the foreground. */
  runArgs(id: string, bundle: string): string[] {
    return ['--root', this.stateRoot, 'run', '--bundle', bundle, id];
  }

  /** Signals every process of the container (not only its first). */
  async kill(id: string, signal: NodeJS.Signals): Promise<void> {
    await exec(this.info.path, ['--root', this.stateRoot, 'kill', '--all', id, signal.replace(/^SIG/, '')]).catch(() => undefined);
  }

  /** Removes a container whatever its state (kills what still runs in it). */
  async delete(id: string): Promise<void> {
    await exec(this.info.path, ['--root', this.stateRoot, 'delete', '--force', id]).catch(() => undefined);
  }

  async list(): Promise<ContainerState[]> {
    const { stdout } = await exec(this.info.path, ['--root', this.stateRoot, 'list', '--format', 'json']);
    const rows = (JSON.parse(stdout || 'null') ?? []) as { id: string; pid: number; status: string; bundle: string }[];
    return rows.map((r) => ({ id: r.id, pid: r.pid, status: r.status, bundle: r.bundle }));
  }
}
