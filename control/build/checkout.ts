/**
 * The pushed commit as plain files in a fresh build dir, with `git archive`.
 * During pre-receive the new objects are still in receive-pack's quarantine,
 * so the hook's GIT_OBJECT_DIRECTORY / GIT_ALTERNATE_OBJECT_DIRECTORIES are
 * passed through, or git would not find the commit.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';

export async function checkout(repoDir: string, commit: string, dest: string, gitEnv: Record<string, string>, signal: AbortSignal): Promise<void> {
  if (!/^[0-9a-f]{40}$/.test(commit)) throw new Error(`not a commit id: ${commit}`);
  await mkdir(dest, { recursive: true });
  const child = spawn('git', ['archive', '--format=tar', commit], {
    cwd: repoDir, signal,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_DIR: repoDir, ...gitEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  exited.catch(() => undefined); // awaited below; an abort must not surface as an unhandled rejection meanwhile
  try {
    await pipeline(child.stdout, tar.x({ cwd: dest, strict: true, preservePaths: false }));
  } catch (err) {
    await exited.catch(() => undefined);
    throw err;
  }
  const code = await exited;
  if (code !== 0) throw new Error(`git archive ${commit.slice(0, 7)} failed: ${err.trim() || `exit ${code}`}`);
}
