/**
 * Hosts as network namespaces on one bridge: `dmnet-<run>-<host>` namespaces, a
 * `dmb<run>` bridge holding 10.213.<subnet>.1/24 in the root namespace, one veth
 * pair per host (`dm<run><host>` outside, `eth0` inside). Everything one run makes
 * carries its 5-hex run id, so a crashed run's leftovers are found and removed by
 * name; a pid file under /run/dynomesh-netns says whether its owner still lives.
 * Root only; synchronous so it also works from an 'exit' handler.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { netnsPrefix } from '../../container/isolation.ts';

export const NS_PREFIX = 'dmnet-';
const STATE_DIR = '/run/dynomesh-netns';
const RUN = /^[0-9a-f]{5}$/;

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `ip` that tolerates "not there" (teardown runs after partial setups). */
function ipQuiet(...args: string[]): void {
  try {
    ip(...args);
  } catch {
    /* already gone */
  }
}

export const nsName = (run: string, host: string): string => `${NS_PREFIX}${run}-${host}`;
export const vethName = (run: string, host: string): string => `dm${run}${host}`;
export const bridgeName = (run: string): string => `dmb${run}`;

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('network-namespace clusters need root (ip netns, veth); run as root');
}

/** A /24 in 10.213.0.0/16 that no interface on this machine uses yet. */
export function freeSubnet(): number {
  const used = new Set([...ip('-4', '-o', 'addr').matchAll(/inet 10\.213\.(\d+)\./g)].map((m) => Number(m[1])));
  const start = 1 + Math.floor(Math.random() * 250);
  for (let i = 0; i < 250; i++) {
    const s = 1 + ((start + i) % 250);
    if (!used.has(s)) return s;
  }
  throw new Error('no free /24 left in 10.213.0.0/16; run `deploy/netns/main.ts cleanup`');
}

/** Claims a run id: writes our pid so a concurrent cleanup leaves this run alone. */
export function claimRun(run: string): void {
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(join(STATE_DIR, `${run}.pid`), String(process.pid));
}

export function createBridge(run: string, subnet: number): void {
  const br = bridgeName(run);
  ip('link', 'add', br, 'type', 'bridge');
  ip('addr', 'add', `10.213.${subnet}.1/24`, 'dev', br);
  ip('link', 'set', br, 'up');
}

/** One host: its namespace, loopback up, eth0 on the bridge with `addr`/24. */
export function createHost(run: string, host: string, addr: string): void {
  const ns = nsName(run, host);
  const veth = vethName(run, host);
  ip('netns', 'add', ns);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  ip('link', 'set', veth, 'master', bridgeName(run));
  ip('link', 'set', veth, 'up');
  ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
  ip('-n', ns, 'link', 'set', 'eth0', 'up');
}

export function setLink(run: string, host: string, up: boolean): void {
  ip('link', 'set', vethName(run, host), up ? 'up' : 'down');
}

/** Drops (`add`) or restores (`del`) this host's traffic to the given addresses: a partition. */
export function blackhole(run: string, host: string, addrs: string[], on: boolean): void {
  for (const a of addrs) {
    if (on) ip('-n', nsName(run, host), 'route', 'add', 'blackhole', `${a}/32`);
    else ipQuiet('-n', nsName(run, host), 'route', 'del', 'blackhole', `${a}/32`);
  }
}

export function pidsIn(ns: string): number[] {
  try {
    return ip('netns', 'pids', ns).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Processes of a host's isolated dynos: they live in network namespaces of their own, so
 * `ip netns pids` of the host misses them; their cgroups sit under the agent's (`dynomesh-<node>`).
 */
export function containerPids(node: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cgroup`, 'utf8').includes(`/dynomesh-${node}/`)) out.push(Number(name));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** SIGKILLs every process of the host `ns` is (dynos included, whatever their group or container) until none is left. */
export function killAllIn(ns: string): number {
  const node = ns.split('-').pop()!;
  let killed = 0;
  for (let round = 0; round < 50; round++) {
    const pids = [...pidsIn(ns), ...containerPids(node)];
    if (pids.length === 0) return killed;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        /* exited meanwhile */
      }
    }
    execFileSync('sleep', ['0.05']);
  }
  throw new Error(`processes keep running in ${ns}: ${pidsIn(ns).join(' ')}`);
}

function namespacesOf(run?: string): string[] {
  return ip('netns', 'list').split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(NS_PREFIX) && (!run || n.startsWith(`${NS_PREFIX}${run}-`)));
}

/** Everything of one run: processes, namespaces, links, the bridge, its pid file and data dir (unless `keepDir`). */
export function destroyRun(run: string, keepDir = false): void {
  const spaces = namespacesOf(run);
  for (const ns of spaces) killAllIn(ns);
  for (const ns of spaces) ipQuiet('netns', 'del', ns);
  // The containers' own namespaces (their processes died with their host above).
  const hostDirs = spaces.map((ns) => `/tmp/dmnet-${run}/${ns.split('-').pop()}`);
  const prefixes = hostDirs.flatMap((d) => [netnsPrefix('node', `${d}/node/containers`), netnsPrefix('build', `${d}/builds/.containers`)]);
  const all = (() => {
    try {
      return readdirSync('/run/netns');
    } catch {
      return [] as string[];
    }
  })();
  for (const ns of all.filter((n) => prefixes.some((p) => n.startsWith(p)))) ipQuiet('netns', 'del', ns);
  // The dynos' /app volumes (loop-mounted) under the run's dir, or removing it fails with EBUSY.
  for (const m of mountsUnderSync(`/tmp/dmnet-${run}`)) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      /* gone meanwhile */
    }
  }
  for (const line of ip('-o', 'link').split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1];
    if (name && (name === bridgeName(run) || (name.startsWith(`dm${run}`) && name.length > 7))) ipQuiet('link', 'del', name);
  }
  rmSync(join(STATE_DIR, `${run}.pid`), { force: true });
  if (!keepDir) rmSync(`/tmp/dmnet-${run}`, { recursive: true, force: true });
}

function mountsUnderSync(dir: string): string[] {
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  return text.split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => !!m && m.startsWith(`${dir}/`)).sort().reverse();
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Removes what crashed or killed runs left behind (their owner pid is gone); returns their ids. */
export function cleanupStale(): string[] {
  const runs = new Set<string>();
  for (const ns of namespacesOf()) runs.add(ns.slice(NS_PREFIX.length, NS_PREFIX.length + 5));
  for (const line of ip('-o', 'link').split('\n')) {
    const m = /^\d+: dmb([0-9a-f]{5})[:@]/.exec(line);
    if (m) runs.add(m[1]!);
  }
  let pidFiles: string[] = [];
  try {
    pidFiles = readdirSync(STATE_DIR);
  } catch {
    /* none yet */
  }
  for (const f of pidFiles) if (f.endsWith('.pid')) runs.add(f.slice(0, -4));
  const stale: string[] = [];
  for (const run of runs) {
    if (!RUN.test(run)) continue;
    let owner = 0;
    try {
      owner = Number(readFileSync(join(STATE_DIR, `${run}.pid`), 'utf8'));
    } catch {
      /* no pid file: nobody owns it */
    }
    if (owner && alive(owner)) continue;
    destroyRun(run);
    stale.push(run);
  }
  return stale;
}
