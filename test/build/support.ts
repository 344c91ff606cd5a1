/** Helpers for build tests: a real `dynomesh control` process, git repos of the test apps, and pushes with the real git client. */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../lib/ports.ts';
import { eventually, type TestEtcd } from '../support/etcd.ts';
import { apiCall } from '../support/api.ts';
import { git } from '../support/git.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const APPS = join(ROOT, 'test/build/apps');
export const ADMIN = 'dm_test-build-admin-token-0123456789';

export interface ControlProc {
  url: string;
  dir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `dynomesh control` on a free loopback port, with its own data dir, on the test etcd. */
export async function spawnControl(etcd: TestEtcd, prefix: string, extraArgs: string[] = [], opts: { id?: string; clusterKey?: string } = {}): Promise<ControlProc> {
  const dir = mkdtempSync(join(tmpdir(), 'dm-build-'));
  chmodSync(dir, 0o711); // as root, builds run as per-app users who must pass through to --build-dir
  const port = await freePort();
  const log = createWriteStream(join(dir, 'control.log'));
  const child = spawn(process.execPath, [
    'bin/dynomesh.js', 'control',
    '--etcd', etcd.server.endpoint, '--etcd-prefix', prefix,
    '--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, 'data'), '--cluster-key', opts.clusterKey ?? join(dir, 'cluster.key'),
    '--lease-ttl', '2', '--id', opts.id ?? 'c1', '--router-port', '5000', '--build-dir', join(dir, 'builds'), ...extraArgs,
  ], { cwd: ROOT, env: { ...process.env, DYNOMESH_BOOTSTRAP_TOKEN: ADMIN, DYNOMESH_LOG_LEVEL: 'info', NODE_TEST_CONTEXT: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => (await fetch(`${url}/health`)).ok, 30_000, 'control serving');
  return {
    url, dir, child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (process.env.KEEP_LOGS) console.log(`control logs in ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { git, type GitResult } from '../support/git.ts';

/** A git work tree holding a copy of `test/build/apps/<name>` (or `src`), committed on main. */
export async function appRepo(src: string, message = 'initial'): Promise<{ dir: string; sha: string; cleanup(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'dm-app-'));
  cpSync(src.startsWith('/') ? src : join(APPS, src), dir, { recursive: true, verbatimSymlinks: true });
  for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', message]]) {
    const r = await git(dir, args);
    if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  }
  const sha = (await git(dir, ['rev-parse', 'HEAD'])).stdout.trim();
  return { dir, sha, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The remote URL with the token as the basic-auth password, as a user's git config would hold it. */
export function remote(base: string, app: string, token: string = ADMIN): string {
  const u = new URL(base);
  u.username = 'git';
  u.password = token;
  u.pathname = `/${app}.git`;
  return u.toString();
}

export function api(base: string, method: string, path: string, body?: unknown, token: string = ADMIN) {
  return apiCall(base, token, method, path, body);
}
