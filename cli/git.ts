/**
 * The `dynomesh` git remote and how git authenticates on it.
 *
 * We use a repo-local credential helper, not the token in the remote URL: a URL
 * token sits in plain text in .git/config, shows up in `git remote -v` and
 * build logs, and goes stale on `dynomesh login`. The helper
 * (`dynomesh git:credentials`) answers git with the token from the CLI config
 * at push time, for the control plane's URL only. An empty helper entry first
 * resets helpers inherited from global config, so a global `store` helper never
 * copies the token into ~/.git-credentials.
 */
import { spawnSync } from 'node:child_process';
import { BIN } from '../lib/package.ts';
import { gitRemotes } from './app.ts';
import { credentials } from './config.ts';
import { CliError } from './errors.ts';
import { plainHttpRefusal } from './transport.ts';

function git(args: string[], cwd: string): { ok: boolean; out: string; err: string } {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.error) throw new CliError(`git is not installed (${(r.error as NodeJS.ErrnoException).code}); install it with \`apt-get install -y git\``);
  return { ok: r.status === 0, out: r.stdout.trim(), err: r.stderr.trim() };
}

export function isGitRepo(cwd = process.cwd()): boolean {
  const r = spawnSync('git', ['rev-parse', '--is-inside-work-tree'], { cwd, encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() === 'true';
}

/** `http://127.0.0.1:5050/x.git` → `http://127.0.0.1:5050` (what credential.<url> matches on). */
function origin(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The helper command line git runs (absolute paths, so it works without dynomesh on PATH). */
export function helperCommand(): string {
  return `!${q(process.execPath)} ${q(BIN)} git:credentials`;
}

/** Adds (or repoints) the remote and installs the credential helper for its host. */
export function addRemote(name: string, gitUrl: string, cwd = process.cwd()): 'added' | 'updated' {
  const existing = gitRemotes(cwd).get(name);
  const r = existing !== undefined ? git(['remote', 'set-url', name, gitUrl], cwd) : git(['remote', 'add', name, gitUrl], cwd);
  if (!r.ok) throw new CliError(`could not set the git remote ${name}: ${r.err.split('\n')[0]}`);
  const key = `credential.${origin(gitUrl)}.helper`;
  git(['config', '--local', '--unset-all', key], cwd);
  git(['config', '--local', '--add', key, ''], cwd);
  const h = git(['config', '--local', '--add', key, helperCommand()], cwd);
  if (!h.ok) throw new CliError(`could not configure git credentials for ${name}: ${h.err.split('\n')[0]}`);
  git(['config', '--local', `credential.${origin(gitUrl)}.username`, 'dynomesh'], cwd);
  return existing !== undefined ? 'updated' : 'added';
}

/**
 * `git clone` arguments that set up the repo as `addRemote` would (the remote's
 * name, the credential helper for the control plane's host), before anything
 * is fetched, so the clone itself authenticates through the helper.
 */
export function cloneArgs(remote: string, gitUrl: string, dir: string): string[] {
  const key = `credential.${origin(gitUrl)}`;
  return ['clone', '--origin', remote, '-c', `${key}.helper=`, '-c', `${key}.helper=${helperCommand()}`, '-c', `${key}.username=dynomesh`, gitUrl, dir];
}

/** Removes every remote of the repo that points at `app` (after apps:destroy). */
export function removeRemotesOf(app: string, cwd = process.cwd()): string[] {
  const removed: string[] = [];
  for (const [name, url] of gitRemotes(cwd)) {
    if (url.replace(/\/$/, '').endsWith(`/${app}.git`) && git(['remote', 'remove', name], cwd).ok) removed.push(name);
  }
  return removed;
}

/**
 * git's credential protocol: reads `key=value` lines from stdin and, for `get`
 * on our control plane's host, answers with the token as the password.
 */
export async function answerCredential(action: string, input: string): Promise<string> {
  if (action !== 'get') return '';
  const fields = new Map<string, string>();
  for (const line of input.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) fields.set(line.slice(0, i), line.slice(i + 1));
  }
  const { apiUrl, token } = credentials();
  if (!token) return '';
  // git would send it in clear text to another machine (cli/transport.ts): answer nothing, git then fails to authenticate
  if (plainHttpRefusal(apiUrl)) return '';
  const api = new URL(apiUrl);
  if (fields.get('protocol') !== api.protocol.replace(':', '') || fields.get('host') !== api.host) return '';
  return `username=dynomesh\npassword=${token}\n`;
}
