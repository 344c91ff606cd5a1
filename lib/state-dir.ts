/**
 * Directories a daemon keeps its state in and, as root, works in (the control's
 * data and build dirs, a dyno-node's data dir). Root chowns, packs, extracts and
 * deletes inside them, so nobody else may own them or be able to swap them:
 *
 *   - the directory is ours (the daemon's uid) and not a symbolic link;
 *   - it is not writable by group or others;
 *   - every parent up to / is owned by root or by us, and not writable by group
 *     or others unless sticky (as /tmp), so nobody can rename it away and put
 *     their own in its place.
 *
 * `ensureStateDir` creates a missing one (mode 0700 unless told) and checks it,
 * throwing one line that says what is wrong and what to do.
 */
import { lstatSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export class StateDirError extends Error {
  override name = 'StateDirError';
}

const octal = (m: number) => '0' + (m & 0o7777).toString(8);

/** Why `dir` is not safe to keep state in, or undefined. `what` names it (`build dir`), `flag` how to pick another. */
export function stateDirProblem(dir: string, what: string, flag: string): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  const path = resolve(dir);
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return `${what} ${path} is a symbolic link; give the real directory with ${flag}`;
  if (!st.isDirectory()) return `${what} ${path} is not a directory; pick another ${flag}`;
  if (st.uid !== uid) return `${what} ${path} is owned by uid ${st.uid}, not by this daemon's uid ${uid}; remove it or pick another ${flag}`;
  if (st.mode & 0o022) return `${what} ${path} is writable by group or others (mode ${octal(st.mode)}); chmod go-w ${path}`;
  for (let p = dirname(path); ; p = dirname(p)) {
    const ps = statSync(p);
    if (ps.uid !== 0 && ps.uid !== uid) return `${what} ${path} sits in ${p}, owned by uid ${ps.uid}, who could swap it; pick a ${flag} under directories only root (or this daemon) owns`;
    if (ps.mode & 0o022 && !(ps.mode & 0o1000)) return `${what} ${path} sits in ${p}, writable by group or others (mode ${octal(ps.mode)}); pick another ${flag}`;
    if (p === dirname(p)) break;
  }
  return undefined;
}

/** Creates `dir` if missing (parents too) and checks it; throws StateDirError with one line. */
export function ensureStateDir(dir: string, what: string, flag: string, mode = 0o700): string {
  const path = resolve(dir);
  try {
    mkdirSync(path, { recursive: true, mode });
  } catch (err) {
    throw new StateDirError(`cannot create ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const problem = stateDirProblem(path, what, flag);
  if (problem) throw new StateDirError(problem);
  return path;
}
