/**
 * What a push may change: exactly one of `main`/`master`, updated (force pushes
 * included) but not deleted. Anything else is refused before a build starts,
 * and the whole push is rejected with the reason.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Builder } from '../build/builder.ts';
import type { HookRequest } from './hook-server.ts';

const DEPLOYABLE = new Set(['refs/heads/main', 'refs/heads/master']);
const ZERO = /^0{40}$/;
const warn = (s: string) => Buffer.from(` !     ${s}\n`);

export function pushHandler(builder: Builder) {
  return async (req: HookRequest): Promise<boolean> => {
    const { refs, out } = req;
    if (refs.length === 0) return true;
    const others = refs.filter((r) => !DEPLOYABLE.has(r.ref));
    if (others.length) {
      const names = others.map((r) => r.ref.replace(/^refs\/heads\//, ''));
      out(warn(`Pushing to ${names.join(', ')} is not allowed: only main or master deploy.`));
      out(warn(`To deploy another branch, push it as main: git push <remote> ${others[0]!.ref.startsWith('refs/heads/') ? names[0] : 'HEAD'}:main`));
      return false;
    }
    if (refs.length > 1) {
      out(warn('Push main or master, not both in one push.'));
      return false;
    }
    const u = refs[0]!;
    if (ZERO.test(u.new)) {
      out(warn(`Deleting ${u.ref.replace('refs/heads/', '')} is not allowed: it is what the app deploys from.`));
      return false;
    }
    const result = await builder.run({
      app: req.push.app,
      source: { kind: 'git', repoDir: req.push.repoDir, commit: u.new, gitEnv: req.gitEnv },
      version: u.new,
      ref: u.ref,
      user: req.push.user,
      out,
      signal: req.signal,
    });
    if (result.ok) {
      // HEAD follows the branch the app deploys from, so `git clone` of the app checks it out.
      await promisify(execFile)('git', ['symbolic-ref', 'HEAD', u.ref], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_DIR: req.push.repoDir } }).catch(() => undefined);
    }
    return result.ok;
  };
}
