/**
 * One unprivileged user per app (`dm-<app>`), so dynos of different apps cannot
 * read each other's files. Created with useradd when the agent runs as root;
 * otherwise dynos run as the agent's user and the agent says so once.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Logger } from '../lib/log.ts';

const run = promisify(execFile);

export interface DynoUser {
  name: string;
  uid: number;
  gid: number;
}

/** useradd allows 32 characters; long app names keep a readable head and a hash. */
export function userName(app: string): string {
  const n = `dm-${app}`;
  return n.length <= 32 ? n : `dm-${app.slice(0, 20)}-${createHash('sha256').update(app).digest('hex').slice(0, 8)}`;
}

async function lookup(name: string): Promise<DynoUser | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

export class DynoUsers {
  private readonly made = new Map<string, Promise<DynoUser | undefined>>();
  private warned = false;

  constructor(private readonly log: Logger, private readonly asRoot = process.getuid?.() === 0) {}

  /** The user an app's dynos run as; undefined means "the agent's own user". */
  forApp(app: string): Promise<DynoUser | undefined> {
    if (!this.asRoot) {
      if (!this.warned) {
        this.warned = true;
        this.log.warn({ user: process.env.USER }, 'dynos-run-as-agent-user: not root, so apps are not isolated by user');
      }
      return Promise.resolve(undefined);
    }
    let p = this.made.get(app);
    if (!p) {
      p = this.ensure(app);
      this.made.set(app, p);
      p.catch(() => this.made.delete(app));
    }
    return p;
  }

  private async ensure(app: string): Promise<DynoUser> {
    const name = userName(app);
    const found = await lookup(name);
    if (found) return found;
    try {
      await run('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name]);
      this.log.info({ app, user: name }, 'dyno-user-created');
    } catch (err) {
      // Another agent on this host may have created it at the same moment.
      if (!(await lookup(name))) throw new Error(`cannot create user ${name} for app ${app}: ${(err as Error).message.trim()}`);
    }
    const made = await lookup(name);
    if (!made) throw new Error(`user ${name} missing after useradd`);
    return made;
  }
}
