/**
 * A size-limited filesystem for a tenant's writable tree (a dyno's /app): a sparse
 * ext4 image on a loop device, mounted nosuid,nodev. A tenant that fills it gets
 * ENOSPC and nobody else notices; the image costs the host only what is written,
 * and goes when the run does. The mount point is root's; the tree inside is the
 * tenant's.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm, rmdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { findBinary } from './runtime.ts';

const exec = promisify(execFile);

export class Volume {
  private constructor(readonly mountPoint: string) {}

  get image(): string {
    return `${this.mountPoint}.img`;
  }

  /** Why this host cannot make loop-mounted volumes (a container host without loop devices, no mkfs.ext4), or undefined. */
  static unsupported(): string | undefined {
    if (!existsSync('/dev/loop-control')) return 'this host has no loop devices';
    if (!findBinary('mkfs.ext4')) return 'mkfs.ext4 is missing (apt-get install e2fsprogs)';
    return undefined;
  }

  /** Makes and mounts a fresh volume of `bytes` at `mountPoint` (which must not exist). */
  static async create(mountPoint: string, bytes: number): Promise<Volume> {
    const v = new Volume(mountPoint);
    try {
      const fh = await open(v.image, 'wx', 0o600);
      await fh.truncate(bytes);
      await fh.close();
      // No reserved blocks (the tenant may use it all); lazy init keeps mkfs of a sparse image quick.
      await exec('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1,nodiscard', v.image]);
      await mkdir(mountPoint, { mode: 0o700 });
      await exec('mount', ['-o', 'loop,nosuid,nodev', v.image, mountPoint]);
    } catch (err) {
      await v.destroy();
      throw new Error(`cannot make a ${Math.round(bytes / 1048576)} MB volume at ${mountPoint}: ${(err as Error).message.trim().split('\n').pop()}`);
    }
    return v;
  }

  /** A volume a previous run of the agent made (adoption, or cleanup after a crash). */
  static existing(mountPoint: string): Volume {
    return new Volume(mountPoint);
  }

  /** Unmounts (lazily if something still holds it) and removes the image and mount point. Safe to repeat. */
  async destroy(): Promise<void> {
    if (await mounted(this.mountPoint)) {
      await exec('umount', [this.mountPoint]).catch(() => exec('umount', ['-l', this.mountPoint]).catch(() => undefined));
    }
    await rmdir(this.mountPoint).catch(() => undefined);
    await rm(this.image, { force: true });
  }
}

/** Mount points under `dir` (from the kernel's table), for the sweep after a crash. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return text.split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => !!m && m.startsWith(`${dir}/`)).map(unescapeMount);
}

async function mounted(path: string): Promise<boolean> {
  return (await mountsUnder(path.replace(/\/[^/]+$/, ''))).includes(path);
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
