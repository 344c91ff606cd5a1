/**
 * The stack: what a tenant container sees as its operating system, as Heroku's
 * stack image is. The host's /usr (and /bin, /lib... on hosts without merged
 * /usr) read-only, and a short list of /etc entries programs need (TLS roots,
 * time zones, name service config). Never all of /etc: it holds the cluster's
 * credentials (/etc/dynomesh) and the host's secrets. passwd, group, hosts,
 * hostname and resolv.conf are written per container.
 */
import { existsSync, lstatSync, readFileSync, realpathSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface StackMount {
  source: string;
  destination: string;
}

/** /etc entries bound read-only when the host has them. */
const ETC = [
  'ssl', 'ca-certificates', 'ca-certificates.conf', 'pki', 'alternatives', 'localtime', 'timezone', 'zoneinfo',
  'nsswitch.conf', 'host.conf', 'gai.conf', 'protocols', 'services', 'mime.types', 'ld.so.cache', 'ld.so.conf',
  'ld.so.conf.d', 'os-release', 'debian_version', 'lsb-release', 'inputrc', 'bash.bashrc', 'fonts', 'ImageMagick-6',
  'python3', 'python3.11', 'perl', 'magic', 'mailcap',
];

/** Top-level dirs that are symlinks into /usr on merged-/usr hosts (Debian 12, Ubuntu 22.04+), else binds. */
const TOP = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

export interface Stack {
  /** Read-only binds from the host. */
  mounts: StackMount[];
  /** Symlinks the (empty, read-only) root holds: `bin -> usr/bin` on merged-/usr hosts. */
  links: { name: string; target: string }[];
  /** Name servers the containers use (from the host's, loopback ones left out). */
  resolvers: string[];
}

/** Reads the host once: which stack paths exist, and its upstream name servers. */
export function hostStack(root = '/'): Stack {
  const mounts: StackMount[] = [{ source: join(root, 'usr'), destination: '/usr' }];
  const links: Stack['links'] = [];
  for (const d of TOP) {
    const p = join(root, d);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isSymbolicLink()) links.push({ name: d, target: readlinkRelative(p) });
    else if (st.isDirectory()) mounts.push({ source: p, destination: `/${d}` });
  }
  for (const e of ETC) {
    const p = join(root, 'etc', e);
    if (!existsSync(p)) continue;
    // A link (os-release -> ../usr/lib/os-release) is bound as what it points to.
    mounts.push({ source: realpathSync(p), destination: `/etc/${e}` });
  }
  return { mounts, links, resolvers: hostResolvers(root) };
}

function readlinkRelative(p: string): string {
  const real = realpathSync(p);
  return real.replace(/^\//, '');
}

/**
 * The host's name servers a container can use: a loopback stub (systemd-resolved's
 * 127.0.0.53) is unreachable from another network namespace, so its upstreams are used.
 */
export function hostResolvers(root = '/'): string[] {
  const read = (f: string) => {
    try {
      return readFileSync(join(root, f), 'utf8').split('\n').map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((x): x is string => !!x);
    } catch {
      return [];
    }
  };
  const loopback = (a: string) => a.startsWith('127.') || a === '::1';
  const own = read('etc/resolv.conf');
  const usable = own.filter((a) => !loopback(a));
  if (usable.length) return usable;
  return read('run/systemd/resolve/resolv.conf').filter((a) => !loopback(a));
}

export interface EtcInput {
  user: { name: string; uid: number; gid: number; home: string };
  hostname: string;
  resolvers: string[];
}

/**
 * Writes the per-container /etc files under `dir` and returns their binds. passwd
 * names only root, nobody and the app's user, so `whoami` and getpwuid work
 * without showing the host's accounts.
 */
export async function writeEtc(dir: string, i: EtcInput): Promise<StackMount[]> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const files: Record<string, string> = {
    passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\n${i.user.name}:x:${i.user.uid}:${i.user.gid}:dynomesh app:${i.user.home}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    group: `root:x:0:\n${i.user.name}:x:${i.user.gid}:\nnogroup:x:65534:\n`,
    hosts: `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${i.hostname}\n`,
    hostname: `${i.hostname}\n`,
    'resolv.conf': i.resolvers.map((r) => `nameserver ${r}\n`).join('') + 'options edns0\n',
  };
  const mounts: StackMount[] = [];
  for (const [name, body] of Object.entries(files)) {
    await writeFile(join(dir, name), body, { mode: 0o644 });
    mounts.push({ source: join(dir, name), destination: `/etc/${name}` });
  }
  return mounts;
}

/** The empty root a bundle starts from: only the merged-/usr links; runc makes the mount points. */
export async function makeRoot(dir: string, stack: Stack): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  for (const l of stack.links) await symlink(l.target, join(dir, l.name)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
}
