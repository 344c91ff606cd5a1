/**
 * The pushed commit as plain files in a fresh build dir, with `git archive`.
 * During pre-receive the new objects are still in receive-pack's quarantine,
 * so the hook's GIT_OBJECT_DIRECTORY / GIT_ALTERNATE_OBJECT_DIRECTORIES are
 * passed through, or git would not find the commit.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';

function leaves(path: string, target: string): boolean {
  if (target.startsWith('/')) return true;
  const n = posix.normalize(posix.join(posix.dirname(path), target));
  return n === '..' || n.startsWith('../');
}

export async function checkout(repoDir: string, commit: string, dest: string, gitEnv: Record<string, string>, signal: AbortSignal): Promise<void> {
  if (!/^[0-9a-f]{40}$/.test(commit)) throw new Error(`not a commit id: ${commit}`);
  await mkdir(dest, { recursive: true });
  const child = spawn('git', ['archive', '--format=tar', commit], {
    cwd: repoDir, signal,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_DIR: repoDir, ...gitEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const escaping: string[] = [];
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  exited.catch(() => undefined); // awaited below; an abort must not surface as an unhandled rejection meanwhile
  try {
    await pipeline(child.stdout, tar.x({ cwd: dest, strict: true, preservePaths: false, filter: (path, entry) => {
      // Git keeps symlinks as written; one that leaves the app dir is reported here, clearly, instead of by tar.
      const e = entry as { type?: string; linkpath?: string };
      if (e.type === 'SymbolicLink' && e.linkpath !== undefined && leaves(path, e.linkpath)) {
        escaping.push(`${path} -> ${e.linkpath}`);
        return false;
      }
      return true;
    } }));
  } catch (err) {
    await exited.catch(() => undefined);
    throw err;
  }
  const code = await exited;
  if (code !== 0) throw new Error(`git archive ${commit.slice(0, 7)} failed: ${err.trim() || `exit ${code}`}`);
  if (escaping.length) {
    throw new Error(`it has links that leave the app dir, which dynos refuse: ${escaping.slice(0, 5).join(', ')}; make them relative links inside the app`);
  }
}
