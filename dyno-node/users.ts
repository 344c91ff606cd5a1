/**
 * One unprivileged user per app (`dm-<app>`), so dynos of different apps cannot
 * read each other's files. Created with useradd when the agent runs as root;
 * otherwise dynos run as the agent's user and the agent says so once.
 */
import type { Logger } from '../lib/log.ts';
import { appUserName, ensureAppUser, type AppUser } from '../lib/app-user.ts';

export type DynoUser = AppUser;

/** The per-app user name (the rule is shared with builds in lib/app-user.ts). */
export const userName = appUserName;

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
    const { created, ...user } = await ensureAppUser(app);
    if (created) this.log.info({ app, user: user.name }, 'dyno-user-created');
    return user;
  }
}
