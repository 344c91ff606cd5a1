/**
 * Which app a command acts on: `-a/--app`, else $DYNOMESH_APP, else the
 * `dynomesh` git remote (or the one `-r/--remote` names) of the repo in the
 * current directory, whose URL ends in `/<app>.git`.
 */
import { spawnSync } from 'node:child_process';
import { CliError } from './errors.ts';
import { APP_NAME, isAppName } from '../cluster/names.ts';

export const DEFAULT_REMOTE = 'dynomesh';
const GIT_URL_APP = new RegExp(`/(${APP_NAME})\\.git/?$`);

/** `http://host:5050/my-app.git` → `my-app`; undefined when the URL is not an app's git URL. */
export function appFromGitUrl(url: string): string | undefined {
  const m = GIT_URL_APP.exec(url.trim());
  return m ? m[1] : undefined;
}

/** The git remotes of the repo at `cwd` (name → fetch URL); empty outside a repo. */
export function gitRemotes(cwd = process.cwd()): Map<string, string> {
  const r = spawnSync('git', ['config', '--get-regexp', '^remote\\..*\\.url$'], { cwd, encoding: 'utf8' });
  const out = new Map<string, string>();
  if (r.status !== 0) return out;
  for (const line of r.stdout.split('\n')) {
    const m = /^remote\.(.+)\.url\s+(.+)$/.exec(line.trim());
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

export interface AppFlags {
  app?: string;
  remote?: string;
}

export function resolveApp(flags: AppFlags, cwd = process.cwd()): string {
  const explicit = flags.app ?? process.env.DYNOMESH_APP;
  if (explicit) {
    if (!isAppName(explicit)) throw new CliError(`"${explicit}" is not an app name (lowercase letters, digits and -, starting with a letter, at most 30)`);
    return explicit;
  }
  const remotes = gitRemotes(cwd);
  const name = flags.remote ?? DEFAULT_REMOTE;
  const url = remotes.get(name);
  if (url) {
    const app = appFromGitUrl(url);
    if (app) return app;
    throw new CliError(`the git remote "${name}" (${url}) does not point at a dynomesh app; pass -a <app>`);
  }
  if (flags.remote) throw new CliError(`this git repo has no remote named "${flags.remote}"; pass -a <app> or check \`git remote -v\``);
  throw new CliError('no app specified: pass -a <app>, or run this in a git repo with a "dynomesh" remote (`dynomesh apps:create` adds one)');
}
