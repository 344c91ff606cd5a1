/** The real git client for tests: a clean environment (no user or system config, no prompts) and the output as it arrives. */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GitResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stderr chunks with the ms since the command started, to see output arrive while it runs. */
  chunks: { at: number; text: string }[];
}

export const gitEnv = (home: string): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH, HOME: home, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', LANG: 'C',
  GIT_AUTHOR_NAME: 'Test', GIT_AUTHOR_EMAIL: 'test@example.com', GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 'test@example.com',
});

export function git(cwd: string, args: string[], timeoutMs = 120_000): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn('git', args, { cwd, env: gitEnv(cwd), stdio: ['ignore', 'pipe', 'pipe'] });
    const r: GitResult = { code: null, stdout: '', stderr: '', chunks: [] };
    child.stdout.on('data', (b: Buffer) => (r.stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      r.stderr += b.toString();
      r.chunks.push({ at: Date.now() - started, text: b.toString() });
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      r.code = code;
      resolve(r);
    });
  });
}


/** A new repository at `dir` holding `files`, one commit, pushed to `remote`'s main; throws with git's output if any step fails. */
export async function pushFiles(dir: string, files: Record<string, string>, remote: string, message = 'deploy'): Promise<GitResult> {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  let r: GitResult | undefined;
  for (const args of [['init', '-q', '-b', 'main'], ['add', '.'], ['commit', '-qm', message], ['push', '-q', remote, 'main']]) {
    r = await git(dir, args);
    if (r.code !== 0) throw new Error(`git ${args[0]} failed (${r.code}): ${r.stderr.trim()}`);
  }
  return r!;
}
