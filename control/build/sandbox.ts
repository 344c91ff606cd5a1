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
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../../lib/log.ts';
import { ensureAppUser, type AppUser } from '../../lib/app-user.ts';

const run = promisify(execFile);

/** Builds run as the same user as the app's dynos (lib/app-user.ts). */
export type BuildUser = AppUser;

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
    const { created, ...user } = await ensureAppUser(app);
    if (created) this.log.info({ app, user: user.name }, 'build-user-created');
    return user;
  }
}
