/**
 * The syscall filter of every tenant container (OCI `linux.seccomp`): everything
 * an app, a compiler or a package manager uses is allowed; what only serves to
 * attack the kernel or leave the sandbox is refused, as Docker's default profile
 * does. Above all no new namespaces: without this a tenant could `unshare -Ur` and
 * hold every capability inside a user namespace of its own, which opens kernel
 * code no app needs.
 */

const EPERM = 1;
const ENOSYS = 38;

/** Refused with EPERM. Names a host's kernel does not know are skipped by the runtime. */
const DENIED = [
  'unshare', 'setns', 'mount', 'umount', 'umount2', 'pivot_root', 'fsopen', 'fsconfig', 'fsmount', 'fspick',
  'move_mount', 'open_tree', 'mount_setattr', 'keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open',
  'userfaultfd', 'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'create_module',
  'open_by_handle_at', 'name_to_handle_at', 'swapon', 'swapoff', 'reboot', 'syslog', 'acct', 'settimeofday',
  'clock_settime', 'clock_adjtime', 'adjtimex', 'iopl', 'ioperm', 'quotactl', 'lookup_dcookie', 'vm86', 'vm86old',
  'get_kernel_syms', 'query_module', 'nfsservctl', 'uselib', 'ustat', 'sysfs', '_sysctl',
];

/**
 * Refused with ENOSYS, so callers fall back: clone3 hides its flags from the filter
 * (glibc then uses clone, whose flags are checked below); io_uring (libuv falls back
 * to its thread pool) has been a steady source of kernel bugs.
 */
const MISSING = ['clone3', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'];

/** clone() flags that make namespaces: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
const NAMESPACE_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];

function architectures(arch: string): string[] {
  if (arch === 'x64') return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
  if (arch === 'arm64') return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
  return [];
}

export function seccompProfile(arch: string = process.arch): Record<string, unknown> {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: architectures(arch),
    syscalls: [
      { names: DENIED, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      { names: MISSING, action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
      // One rule per flag: libseccomp ORs them; clone's flags are its first argument on x86_64 and arm64.
      ...NAMESPACE_FLAGS.map((flag) => ({
        names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM,
        args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
      })),
    ],
  };
}
