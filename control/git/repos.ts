/**
 * One bare repo per app under `<data-dir>/repos/<app>.git`, created lazily on the
 * first git request for an existing app. The repo remembers the app's id: an app
 * destroyed and created again under the same name starts from an empty repo
 * (its build cache and build logs go with the old one). Every repo uses the
 * control's hooks dir (`core.hooksPath`), whose pre-receive hands the push to
 * this process.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const HOOK_JS = fileURLToPath(new URL('./pre-receive.mjs', import.meta.url));

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export class RepoStore {
  readonly root: string;
  readonly hooksDir: string;
  private readonly known = new Map<string, string>(); // app -> app id already checked
  private readonly creating = new Map<string, Promise<string>>();

  constructor(private readonly dataDir: string, private readonly cacheDirOf: (app: string) => string = (app) => join(dataDir, 'cache', app)) {
    mkdirSync(join(dataDir, 'repos'), { recursive: true, mode: 0o700 });
    this.root = realpathSync(join(dataDir, 'repos'));
    this.hooksDir = join(dataDir, 'git-hooks');
    mkdirSync(this.hooksDir, { recursive: true, mode: 0o700 });
    // Rewritten at each start so it always runs this checkout's hook with this node.
    writeFileSync(join(this.hooksDir, 'pre-receive'), `#!/bin/sh\nexec ${shq(process.execPath)} ${shq(HOOK_JS)}\n`, { mode: 0o755 });
    chmodSync(join(this.hooksDir, 'pre-receive'), 0o755);
  }

  path(app: string): string {
    return join(this.root, `${app}.git`);
  }

  /** The repo of `app` (whose id is `appId`), created if missing or left over from a destroyed app of that name. */
  ensure(app: string, appId: string): Promise<string> {
    if (this.known.get(app) === appId) return Promise.resolve(this.path(app));
    let p = this.creating.get(app);
    if (!p) {
      p = this.create(app, appId).finally(() => this.creating.delete(app));
      this.creating.set(app, p);
    }
    return p;
  }

  private async create(app: string, appId: string): Promise<string> {
    const dir = this.path(app);
    const git = (...args: string[]) => run('git', args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_DIR: dir } });
    if (existsSync(join(dir, 'HEAD'))) {
      const owner = await git('config', '--get', 'dynomesh.appid').then((r) => r.stdout.trim(), () => '');
      if (owner !== appId) {
        const old = `${dir}.destroyed-${Date.now()}`;
        await rename(dir, old);
        void rm(old, { recursive: true, force: true });
        // The destroyed app's build cache and build logs are not the new app's either.
        await rm(this.cacheDirOf(app), { recursive: true, force: true });
        await rm(join(this.dataDir, 'builds', app), { recursive: true, force: true });
      }
    }
    if (!existsSync(join(dir, 'HEAD'))) {
      const tmp = `${dir}.new-${process.pid}`;
      await rm(tmp, { recursive: true, force: true });
      await run('git', ['init', '--quiet', '--bare', '--initial-branch=main', tmp], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
      const set = (k: string, v: string) => run('git', ['config', k, v], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_DIR: tmp } });
      await set('dynomesh.appid', appId);
      await set('dynomesh.app', app);
      await set('http.receivepack', 'true');
      await set('receive.denyNonFastForwards', 'false'); // force pushes are allowed, as on Heroku
      await set('receive.keepAlive', '5');
      await set('uploadpack.allowFilter', 'true');
      await rename(tmp, dir);
    }
    await git('config', 'core.hooksPath', this.hooksDir);
    this.known.set(app, appId);
    return dir;
  }
}
