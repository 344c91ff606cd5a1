/**
 * Where and as whom buildpacks run. A build runs the app's own code (npm
 * scripts, setup.py), so when the control runs as root every step runs as the
 * app's unprivileged user (`dm-<app>`, the name dyno-node gives the app's dynos)
 * and, with isolation (the default as root), in its own container (container/):
 * it sees the stack read-only, its work dir and its app's cache, nothing of the
 * control host's state, and reaches the internet (package registries) but not
 * the host, the cluster or private ranges. When a step's container ends, every
 * process of it ends, so root packs a tree nothing of the tenant can still change.
 * Without isolation the work dir sits under a build root that only lets users
 * pass through (0711). Not root: steps run as the control's user, and the
 * control says so once.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../../lib/log.ts';
import { StateDirError, stateDirProblem } from '../../lib/state-dir.ts';
import { ensureAppUser, type AppUser } from '../../lib/app-user.ts';
import type { AllowRule } from '../../container/firewall.ts';
import { Isolation, type IsolationMode } from '../../container/isolation.ts';
import type { StepJail } from './run-step.ts';

/** A build's container: memory, processes, CPU and /tmp (compilers and npm need room; a fork bomb stops). */
export const BUILD_LIMITS = { memoryBytes: 2048 * 1024 * 1024, pids: 2048, cpuShares: 1024, tmpBytes: 1024 * 1024 * 1024 };

export interface BuildIsolation {
  mode: IsolationMode;
  subnet?: string;
  allow?: AllowRule[];
}

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
  /** Containers for build steps, once `start` found the host able to run them. */
  containers: Isolation | undefined;
  private readonly users = new Map<string, Promise<BuildUser>>();
  private warned = false;

  constructor(readonly root: string, private readonly log: Logger, asRoot = process.getuid?.() === 0) {
    this.isolated = asRoot;
    mkdirSync(join(root, 'cache'), { recursive: true, mode: 0o711 });
    // Root works in this tree (chown, pack, rm): it must be ours, never a directory another user made first or can swap.
    const problem = stateDirProblem(root, 'build dir', '--build-dir');
    if (problem) throw new StateDirError(problem);
    if (this.isolated) {
      chmodSync(root, 0o711);
      chmodSync(join(root, 'cache'), 0o711);
      const why = unreachable(root);
      if (why) throw new Error(`build dir ${root} is not reachable by the unprivileged build users: ${why}; pick another --build-dir`);
    }
  }

  /** Starts build containers per `iso` (auto: when root); refuses when asked for and the host cannot. */
  async start(iso: BuildIsolation | undefined): Promise<void> {
    const want = iso?.mode ?? 'off';
    if (want === 'off') {
      if (iso && this.isolated) this.log.warn({ hint: 'builds share the control host\'s network and files' }, 'isolation-off: builds are not isolated');
      return;
    }
    if (!this.isolated) {
      if (want !== 'auto') throw new Error(`--isolation ${want} needs root (containers and their network are set up by root)`);
      return; // userFor() says once that builds are not isolated
    }
    chmodSync(this.root, 0o700); // containers bind what they need; no user has to pass through
    this.containers = await Isolation.start({
      runtime: want === 'auto' ? 'auto' : want, stateDir: join(this.root, '.containers'), name: 'build',
      subnet: iso?.subnet ?? '10.232.0.0/16', allow: iso?.allow ?? [], log: this.log,
    });
    // Nothing runs a build step before this: whatever a previous control process left goes.
    await this.containers.sweep(new Set());
  }

  /**
   * A jail for one build's steps: each step is its own container with the work dir and
   * the app's cache writable at the same paths as on the host (buildpacks get them as
   * arguments), as the build user. undefined without isolation.
   */
  jail(buildId: string, user: BuildUser | undefined, workDir: string, cacheDir: string): StepJail | undefined {
    const iso = this.containers;
    if (!iso || !user) return undefined;
    let n = 0;
    return {
      enter: async (file, args, env, cwd, readonly = []) => {
        const id = `build.${buildId}.${++n}`;
        const c = await iso.prepare({
          id, args: [file, ...args], env, cwd, user, hostname: 'build',
          writable: [{ source: workDir, destination: workDir }, { source: cacheDir, destination: cacheDir }],
          readonly: readonly.map((p) => ({ source: p, destination: p })),
          cgroupsPath: `/dynomesh-build/${id}`, limits: BUILD_LIMITS,
        });
        return { argv: c.argv, kill: (sig) => c.kill(sig), destroy: () => c.destroy() };
      },
    };
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
