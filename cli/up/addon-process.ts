/**
 * How `dynomesh up` runs its own PostgreSQL and Redis: where their binaries are,
 * and, as root, as whom. PostgreSQL refuses to run as root and neither server
 * should (dynos reach them over the network), so as root both run as the
 * unprivileged system user `dynomesh-addons`. Their data stays under `--home`,
 * which that user cannot traverse (root's home is 0700), so each server runs in a
 * private mount namespace where its own directory is bind-mounted at /mnt: it
 * sees its data there and nothing else of `--home` (the cluster key, etcd).
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { lookupUser } from '../../lib/app-user.ts';

const exec = promisify(execFile);

/** Not `dm-...`: that prefix is the per-app users' (lib/app-user.ts), and an app may be called `addons`. */
export const ADDON_USER = 'dynomesh-addons';

export const INSTALL_HINT = 'scripts/install-deps.sh installs them (Debian packages postgresql, redis-server)';

/** The newest PostgreSQL's bin directory (Debian keeps one per major version), else the one on PATH. */
export function postgresBinDir(): string | undefined {
  const out = (cmd: string) => {
    try {
      return execFileSync('sh', ['-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  const debian = out('ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1');
  if (debian && existsSync(join(debian, 'initdb'))) return debian;
  const initdb = out('command -v initdb');
  return initdb ? initdb.replace(/\/initdb$/, '') : undefined;
}

export function redisServerBinary(): string | undefined {
  for (const p of ['/usr/bin/redis-server', '/usr/local/bin/redis-server']) if (existsSync(p)) return p;
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A server's environment: nothing of `up`'s own (tokens, etcd passwords). */
export const SERVER_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

const SANDBOX = 'dir=$1 uid=$2 gid=$3; shift 3; mount --bind "$dir" /mnt && exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --no-new-privs "$@"';

/**
 * Where a server's directory is as the server sees it, and how to run a command there.
 * `user` undefined: as ourselves, at its real path (not root).
 */
export class ServerView {
  private constructor(
    readonly dir: string,
    private readonly user: { uid: number; gid: number } | undefined,
  ) {}

  /** As root: the dedicated user (created when missing); otherwise ourselves (undefined). */
  static async user(asRoot = process.getuid?.() === 0): Promise<{ uid: number; gid: number } | undefined> {
    return asRoot ? await ensureAddonUser() : undefined;
  }

  static for(dir: string, user: { uid: number; gid: number } | undefined): ServerView {
    return new ServerView(dir, user);
  }

  /** The directory's path inside the view. */
  get root(): string {
    return this.user ? '/mnt' : this.dir;
  }

  get owner(): { uid: number; gid: number } | undefined {
    return this.user;
  }

  /** argv that runs `cmd` in the view (as the dedicated user in its own mount namespace when root). */
  argv(cmd: string[]): string[] {
    if (!this.user) return cmd;
    return ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', SANDBOX, 'sandbox', this.dir, String(this.user.uid), String(this.user.gid), ...cmd];
  }

  /** Runs `cmd` in the view to its end; `input` goes to its stdin (never on a command line). */
  async run(cmd: string[], input?: string): Promise<void> {
    const [file, ...args] = this.argv(cmd);
    const child = exec(file!, args, { env: SERVER_ENV, cwd: '/', timeout: 120_000, maxBuffer: 4 << 20 });
    child.child.stdin?.end(input ?? '');
    try {
      await child;
    } catch (err) {
      const e = err as Error & { stderr?: string };
      const why = (e.stderr ?? '').trim().split('\n').filter(Boolean).pop() ?? e.message;
      throw new Error(`${cmd[0]!.split('/').pop()} failed: ${why}`);
    }
  }
}

async function ensureAddonUser(): Promise<{ uid: number; gid: number }> {
  const found = await lookupUser(ADDON_USER);
  if (found) return found;
  try {
    await exec('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', ADDON_USER]);
  } catch (err) {
    const raced = await lookupUser(ADDON_USER); // another `up` on this host made it at the same moment
    if (raced) return raced;
    throw new Error(`cannot create the user ${ADDON_USER} the add-on servers run as: ${(err as Error).message.trim()}`);
  }
  const made = await lookupUser(ADDON_USER);
  if (!made) throw new Error(`user ${ADDON_USER} missing after useradd`);
  return made;
}
