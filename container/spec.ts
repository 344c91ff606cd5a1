/**
 * The OCI runtime spec (config.json) of one tenant container: a dyno, a one-off
 * or a build step. Pure data in, pure data out, so every rule of the sandbox is
 * visible in one function and checked by a unit test.
 *
 * What a tenant gets: its own pid, mount, ipc, uts and network namespaces; the
 * stack read-only as `/`; its writable dirs (the slug as /app, a build's dirs);
 * a private size-limited /tmp; its app user, no capabilities, no new privileges;
 * memory, pids and CPU limits in its own cgroup; a syscall filter (seccomp.ts).
 * Nothing of the host's state.
 */
import { seccompProfile } from './seccomp.ts';
import type { StackMount } from './stack.ts';

export interface ContainerLimits {
  /** Hard memory limit (bytes); dynos get 2x their quota so the kernel does R15. */
  memoryBytes: number;
  /** Most processes and threads at once (a fork bomb stops here). */
  pids: number;
  /** Relative CPU weight (cgroup v1 shares; 1024 = one standard dyno). */
  cpuShares: number;
  /** Size of the private /tmp tmpfs (bytes). */
  tmpBytes: number;
}

export interface ContainerSpecInput {
  /** argv of the container's first process (tini, then the tenant's command). */
  args: string[];
  env: Record<string, string>;
  cwd: string;
  uid: number;
  gid: number;
  hostname: string;
  /** Read-only stack binds and generated /etc files (see stack.ts). */
  stack: StackMount[];
  /** Writable binds: host path -> container path (the slug dir as /app, a build's dirs). */
  writable: { source: string; destination: string }[];
  /** Extra read-only binds (a build's buildpack dirs). */
  readonly?: { source: string; destination: string }[];
  /** Path of the network namespace CNI set up (/run/netns/...); omitted: loopback only. */
  netns?: string;
  /** cgroup path relative to each hierarchy's root. */
  cgroupsPath: string;
  limits: ContainerLimits;
}

/** The host's view of kernel state that a tenant must not read (OCI `maskedPaths`, as runc's default). */
const MASKED = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/fs/selinux', '/sys/dev/block',
];
const READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const bind = (source: string, destination: string, rw: boolean) => ({
  destination, type: 'bind', source, options: ['rbind', rw ? 'rw' : 'ro', 'nosuid', 'nodev'],
});

export function ociConfig(i: ContainerSpecInput): Record<string, unknown> {
  const mounts: Record<string, unknown>[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    // /tmp before the binds: a build dir under the host's /tmp is bound at the same path, on top of it.
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${Math.max(1, Math.floor(i.limits.tmpBytes / 1024))}k`] },
    ...i.stack.map((m) => bind(m.source, m.destination, false)),
    ...(i.readonly ?? []).map((m) => bind(m.source, m.destination, false)),
    ...i.writable.map((m) => bind(m.source, m.destination, true)),
  ];
  const namespaces: Record<string, string>[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  namespaces.push(i.netns ? { type: 'network', path: i.netns } : { type: 'network' });
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: i.uid, gid: i.gid, additionalGids: [i.gid] },
      args: i.args,
      env: Object.entries(i.env).map(([k, v]) => `${k}=${v}`),
      cwd: i.cwd,
      // No capabilities at all, in every set: an app user needs none.
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 10000, soft: 10000 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: i.hostname,
    mounts,
    linux: {
      namespaces,
      cgroupsPath: i.cgroupsPath,
      resources: {
        devices: [{ allow: false, access: 'rwm' }, ...deviceRules()],
        memory: { limit: i.limits.memoryBytes, swap: i.limits.memoryBytes },
        pids: { limit: i.limits.pids },
        cpu: { shares: i.limits.cpuShares },
      },
      devices: [],
      maskedPaths: MASKED,
      readonlyPaths: READONLY,
      seccomp: seccompProfile(),
    },
  };
}

/** Character devices the tenant may use (major, minor; no minor = all): runc's defaults, nothing more. */
const DEVICES: [number, number?][] = [[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2], [136]];

function deviceRules(): Record<string, unknown>[] {
  return DEVICES.map(([major, minor]) => ({ allow: true, type: 'c', major, ...(minor === undefined ? {} : { minor }), access: 'rwm' }));
}
