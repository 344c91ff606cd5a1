/**
 * One unprivileged system user per app (`dm-<app>`): its builds (control) and its
 * dynos (dyno-node) run as it, so apps cannot read each other's files. Both daemons
 * must agree on the name, which is why the rule lives here.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface AppUser {
  name: string;
  uid: number;
  gid: number;
}

/** useradd allows 32 characters; long app names keep a readable head and a hash. */
export function appUserName(app: string): string {
  const n = `dm-${app}`;
  return n.length <= 32 ? n : `dm-${app.slice(0, 20)}-${createHash('sha256').update(app).digest('hex').slice(0, 8)}`;
}

export async function lookupUser(name: string): Promise<AppUser | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

/** The app's user, created with useradd when missing (root only). `created` says whether this call made it. */
export async function ensureAppUser(app: string): Promise<AppUser & { created: boolean }> {
  const name = appUserName(app);
  const found = await lookupUser(name);
  if (found) return { ...found, created: false };
  try {
    await run('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name]);
  } catch (err) {
    // Another daemon on this host (a build, a dyno-node) may have created it at the same moment.
    const raced = await lookupUser(name);
    if (raced) return { ...raced, created: false };
    throw new Error(`cannot create user ${name} for app ${app}: ${(err as Error).message.trim()}`);
  }
  const made = await lookupUser(name);
  if (!made) throw new Error(`user ${name} missing after useradd`);
  return { ...made, created: true };
}
