/**
 * Which buildpacks a build runs. An app's `buildpacks` list (set through
 * `PUT /apps/:app/buildpack-installations`) holds, in order, built-in names
 * (`nodejs`, `heroku/nodejs`), absolute paths on the control host, or git URLs
 * (`https://host/bp.git#ref`, `file:///srv/bp.git`). An empty list means the
 * built-ins, in BUILTIN_ORDER, the first whose bin/detect succeeds.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { PACKAGE_ROOT } from '../../lib/package.ts';
import type { Egress } from '../../lib/egress.ts';
import { fileUrlPath, pathProblem, urlDestination } from './buildpack-paths.ts';
import { runStep, type StepJail } from './run-step.ts';

export const BUILTIN_DIR = join(PACKAGE_ROOT, 'buildpacks') + '/';

/** Detection order of the built-ins: language packs before the catch-alls. */
export const BUILTIN_ORDER = ['nodejs', 'python', 'static', 'procfile'] as const;

export interface Buildpack {
  /** As configured (`heroku/nodejs`, `/srv/bp`, `https://...`). */
  url: string;
  /** Where its bin/ lives for this build. */
  dir: string;
  builtin: boolean;
}

const GIT_URL = /^(https?:\/\/|git:\/\/|ssh:\/\/|file:\/\/|[\w.-]+@[\w.-]+:)/;

/** The built-in a name refers to (`nodejs`, `heroku/nodejs`, `dynomesh/nodejs`), if any. */
export function builtinName(ref: string): string | undefined {
  const name = ref.replace(/^(heroku|dynomesh)\//, '').replace(/^heroku-buildpack-/, '');
  return (BUILTIN_ORDER as readonly string[]).includes(name) ? name : undefined;
}

/**
 * Why `ref` cannot name a buildpack, or undefined when it can (checked when an app's list is set).
 * Paths (and file:// URLs) only under the operator's `buildpackDir` (buildpack-paths.ts).
 */
export function buildpackRefProblem(ref: string, buildpackDir?: string): string | undefined {
  if (typeof ref !== 'string' || ref.trim() === '' || ref.length > 1024) return 'a buildpack must be a non-empty string';
  if (builtinName(ref)) return undefined;
  if (ref.startsWith('file:')) {
    try {
      return pathProblem(fileUrlPath(ref), buildpackDir);
    } catch {
      return `${ref} is not a file:// URL of a path`;
    }
  }
  if (GIT_URL.test(ref)) return undefined;
  if (isAbsolute(ref)) {
    const outside = pathProblem(ref, buildpackDir);
    if (outside) return outside;
    if (!existsSync(ref) || !statSync(ref).isDirectory()) return `buildpack directory ${ref} does not exist on the control host`;
    return missingBins(ref);
  }
  return `"${ref}" is not a buildpack: use a built-in (${BUILTIN_ORDER.join(', ')}), an absolute path on the control host, or a git URL`;
}

function missingBins(dir: string): string | undefined {
  for (const bin of ['detect', 'compile']) {
    try {
      accessSync(join(dir, 'bin', bin), constants.X_OK);
    } catch {
      return `buildpack ${dir} has no executable bin/${bin}`;
    }
  }
  return undefined;
}

/**
 * Runs a fetch command (git clone, cp) as the build user when there is one, so it reaches only what that
 * user may read; in the build's container when builds are isolated, so a clone reaches only the internet
 * (not the control host or private ranges) and a copy sees only the buildpack's own directory.
 */
async function fetchAs(cmd: string, args: string[], cwd: string, signal: AbortSignal, as?: FetchUser, jail?: StepJail, readonly: string[] = []): Promise<void> {
  if (jail) {
    let err = '';
    const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: as?.home ?? cwd, GIT_TERMINAL_PROMPT: '0' };
    const r = await runStep(cmd, args, { cwd, env, signal, jail, readonly, onOutput: (b) => (err += b.toString()) });
    if (r.code !== 0) throw new Error(err.trim().split('\n').pop() || `${cmd} exited ${r.code ?? r.signal}`);
    return;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd, signal,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: as?.home ?? process.env.HOME ?? '/', GIT_TERMINAL_PROMPT: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(as ? { uid: as.uid, gid: as.gid } : {}),
    });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(err.trim().split('\n').pop() || `${cmd} exited ${code}`))));
  });
}

/** Whether `user` may read and enter `dir`, asked of the kernel as that user (modes, ACLs, every parent). */
function userMayRead(dir: string, user: FetchUser): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('test', ['-r', dir, '-a', '-x', dir], { uid: user.uid, gid: user.gid, stdio: 'ignore', env: { PATH: '/usr/bin:/bin' } });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
}

/** The build user, with a HOME it owns. */
export interface FetchUser {
  uid: number;
  gid: number;
  home: string;
}

/**
 * Makes `ref` runnable for one build, as a private copy in `workDir`: built-ins and
 * paths are copied, git URLs cloned. Private because a buildpack may write its
 * `export` file (multi-buildpack API) into its own dir while other builds run.
 */
export async function fetchBuildpack(
  ref: string, workDir: string, n: number, signal: AbortSignal, as?: FetchUser, jail?: StepJail,
  limits: { buildpackDir?: string | undefined; egress?: Egress | undefined } = {},
): Promise<Buildpack> {
  const name = builtinName(ref);
  if (name) {
    // The built-ins share buildpacks/lib, so the whole (small) tree is copied once per build.
    const root = join(workDir, 'builtin-buildpacks');
    if (!existsSync(root)) await cp(BUILTIN_DIR, root, { recursive: true });
    return { url: ref, dir: join(root, name), builtin: true };
  }
  // Checked again at build time: the list may predate the operator's --buildpack-dir.
  const refused = buildpackRefProblem(ref, limits.buildpackDir);
  if (refused) throw new Error(refused);
  if (isAbsolute(ref)) {
    const dir = join(workDir, `buildpack-${n}`);
    try {
      // A container sees only what it is given: the buildpack dir is bound in, if the build user may read it.
      if (jail && as && !(await userMayRead(ref, as))) throw new Error('Permission denied (the build user cannot read it)');
      await fetchAs('cp', ['-R', '--no-preserve=ownership', '--', ref, dir], workDir, signal, as, jail, [ref]);
    } catch (err) {
      throw new Error(`could not copy buildpack ${ref}: ${(err as Error).message}`);
    }
    return { url: ref, dir, builtin: false };
  }
  const [url, branch] = ref.split('#', 2) as [string, string | undefined];
  const dir = join(workDir, `buildpack-${n}`);
  // In a container the firewall keeps the clone off private ranges; on the host, the guard checks the name first
  // (git resolves it again itself, so this is the weaker of the two: run builds isolated).
  const dest = jail ? undefined : urlDestination(url);
  if (dest && limits.egress) await limits.egress.check(dest.host, dest.port, `buildpack ${url}`);
  try {
    const clone = (shallow: boolean) =>
      fetchAs('git', ['clone', '--quiet', ...(shallow ? ['--depth', '1'] : []), ...(branch ? ['--branch', branch] : []), '--', url, dir], workDir, signal, as, jail);
    // Shallow is quicker; dumb-HTTP hosts cannot serve it, so those get a full clone.
    await clone(true).catch((err: Error) => (/shallow/i.test(err.message) ? clone(false) : Promise.reject(err)));
  } catch (err) {
    throw new Error(`could not fetch buildpack ${ref}: ${(err as Error).message}`);
  }
  const problem = missingBins(dir);
  if (problem) throw new Error(problem.replace(dir, ref));
  return { url: ref, dir, builtin: false };
}
