/**
 * Where and as whom buildpacks run. A build runs the app's own code (npm
 * scripts, setup.py), so when the control runs as root every step runs as the
 * app's unprivileged user (`dm-<app>`, the name dyno-node gives the app's dynos)
 * in a work dir under a build root that only lets users pass through (0711):
 * a build cannot read the cluster key, the slug store, other apps' repos, or
 * another app's cache. Not root: steps run as the control's user, and the
 * control says so once.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../../lib/log.ts';

const run = promisify(execFile);

export interface BuildUser {
  name: string;
  uid: number;
  gid: number;
}

/** Same rule as dyno-node's users: useradd allows 32 characters; long app names keep a readable head and a hash. */
export function buildUserName(app: string): string {
  const n = `dm-${app}`;
  return n.length <= 32 ? n : `dm-${app.slice(0, 20)}-${createHash('sha256').update(app).digest('hex').slice(0, 8)}`;
}

async function lookup(name: string): Promise<BuildUser | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

/** Why `dir` cannot be reached by other users (an ancestor without the x bit for others), or undefined. */
function unreachable(dir: string): string | undefined {
  for (let d = dirname(resolve(dir)); ; d = dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return `${d} (mode ${(statSync(d).mode & 0o777).toString(8)}) does not let other users pass`;
    } catch {
      /* created below */
    }
    if (d === dirname(d)) return undefined;
  }
}

export class Sandbox {
  readonly isolated: boolean;
  private readonly users = new Map<string, Promise<BuildUser>>();
  private warned = false;

  constructor(readonly root: string, private readonly log: Logger, asRoot = process.getuid?.() === 0) {
    this.isolated = asRoot;
    mkdirSync(join(root, 'cache'), { recursive: true, mode: 0o711 });
    if (this.isolated) {
      chmodSync(root, 0o711);
      chmodSync(join(root, 'cache'), 0o711);
      const why = unreachable(root);
      if (why) throw new Error(`build dir ${root} is not reachable by the unprivileged build users: ${why}; pick another --build-dir`);
    }
  }

  workDir(id: string): string {
    return join(this.root, id);
  }

  cacheDir(app: string): string {
    return join(this.root, 'cache', app);
  }

  /** The user an app's build steps run as; undefined means the control's own user. */
  async userFor(app: string): Promise<BuildUser | undefined> {
    if (!this.isolated) {
      if (!this.warned) {
        this.warned = true;
        this.log.warn({ user: process.env.USER }, 'builds-run-as-control-user: not root, so builds are not isolated from the control plane');
      }
      return undefined;
    }
    let p = this.users.get(app);
    if (!p) {
      p = this.ensureUser(app);
      this.users.set(app, p);
      p.catch(() => this.users.delete(app));
    }
    return p;
  }

  /** Hands `paths` (recursively) to the build user. */
  async give(user: BuildUser | undefined, ...paths: string[]): Promise<void> {
    if (!user) return;
    await run('chown', ['-R', '--no-dereference', `${user.uid}:${user.gid}`, '--', ...paths]);
  }

  private async ensureUser(app: string): Promise<BuildUser> {
    const name = buildUserName(app);
    const found = await lookup(name);
    if (found) return found;
    try {
      await run('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name]);
      this.log.info({ app, user: name }, 'build-user-created');
    } catch (err) {
      // A dyno-node on this host may have created it at the same moment.
      if (!(await lookup(name))) throw new Error(`cannot create user ${name} for the build of ${app}: ${(err as Error).message.trim()}`);
    }
    const made = await lookup(name);
    if (!made) throw new Error(`user ${name} missing after useradd`);
    return made;
  }
}
