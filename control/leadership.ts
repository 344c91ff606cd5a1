/**
 * Membership and leadership of one control instance. It registers
 * `control/members/{id}` on a session lease, campaigns in the election, and runs
 * the scheduler and the cron jobs only while it leads. When the session is lost (partition longer
 * than the TTL) or a fenced write fails, the scheduler stops at once and the
 * instance starts over with a new session, as a follower.
 */
import { EventEmitter } from 'node:events';
import type { Cluster } from '../cluster/client.ts';
import { Election } from '../cluster/election.ts';
import { Session } from '../cluster/session.ts';
import { Backoff } from '../lib/backoff.ts';
import type { Logger } from '../lib/log.ts';
import { Scheduler, type SchedulerOptions } from './scheduler/scheduler.ts';
import { migrateAccounts } from './access/migrate.ts';
import { CronRunner, type CronOptions } from './cron/runner.ts';

export interface LeadershipOptions {
  id: string;
  /** Base URL of this instance's API as others reach it. */
  api: string;
  /** `host:port` of this instance's log service, advertised in the member record. */
  logs?: string;
  /** `host:port` of the add-on servers, advertised so dyno-nodes allow dynos to reach them. */
  addonServers?: string[];
  leaseTtlSeconds: number;
  scheduler?: SchedulerOptions;
  cron?: CronOptions;
}

export class Leadership extends EventEmitter<{ leader: [boolean] }> {
  private stopped = false;
  private session: Session | undefined;
  private election: Election | undefined;
  private scheduler: Scheduler | undefined;
  private loopDone: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private registered!: Promise<void>;
  /** Settles when this term's one-time migrations have run (tests wait on it). */
  migrated: Promise<void> | undefined;
  private markRegistered!: () => void;

  constructor(
    private readonly cluster: Cluster,
    private readonly opts: LeadershipOptions,
    private readonly log: Logger,
  ) {
    super();
    this.registered = new Promise((r) => (this.markRegistered = r));
  }

  get isLeader(): boolean {
    return this.scheduler !== undefined;
  }

  /** The running scheduler while leading (tests kick it). */
  get activeScheduler(): Scheduler | undefined {
    return this.scheduler;
  }

  /** Resolves once the member key is written the first time. */
  start(): Promise<void> {
    this.loopDone = this.loop();
    return this.registered;
  }

  private async loop(): Promise<void> {
    const backoff = new Backoff(250, 5000);
    while (!this.stopped) {
      try {
        await this.term();
        backoff.reset();
      } catch (err) {
        if (this.stopped) break;
        this.log.warn({ err: (err as Error).message }, 'control-session-failed');
        await this.sleep(backoff.next());
      }
    }
  }

  /** One session's lifetime: register, campaign, lead until the session or the fence is lost. */
  private async term(): Promise<void> {
    const session = await Session.create(this.cluster, this.opts.leaseTtlSeconds);
    this.session = session;
    try {
      await session.put(this.cluster.keys.member(this.opts.id), {
        id: this.opts.id, api: this.opts.api, startedAt: Date.now(), ...(this.opts.logs ? { logs: this.opts.logs } : {}),
        ...(this.opts.addonServers?.length ? { addonServers: this.opts.addonServers } : {}),
      });
      this.markRegistered();
      this.log.info({ id: this.opts.id, api: this.opts.api, lease: session.hex }, 'control-member-registered');
      const election = new Election(this.cluster, session);
      this.election = election;
      const lost = session.done.then((err) => ({ lost: err }));
      const won = election.campaign(this.opts.id).then(() => ({ won: true as const }));
      won.catch(() => undefined);
      const first = await Promise.race([lost, won, this.stopping()]);
      if (!first || 'lost' in first) return;
      if (this.stopped) return;

      const scheduler = new Scheduler(this.cluster, () => election.leaderCompare(), this.log.child({ component: 'scheduler' }), this.opts.scheduler);
      const deposed = new Promise<void>((r) => scheduler.once('deposed', () => r()));
      this.scheduler = scheduler;
      this.log.info({ id: this.opts.id }, 'control-leader-elected');
      // One-time data migrations are the leader's; each records itself so it runs once per cluster.
      this.migrated = migrateAccounts(this.cluster, this.opts.id, this.log).then(
        () => undefined,
        (err) => this.log.error({ err: (err as Error).message }, 'migration-failed'), // the next term tries again
      );
      this.emit('leader', true);
      await scheduler.start();
      // app.json cron jobs: the leader's too, every run fenced like the scheduler's writes.
      const cron = new CronRunner(this.cluster, () => election.leaderCompare(), this.log.child({ component: 'cron' }), this.opts.cron);
      await cron.start();
      await Promise.race([session.done, deposed, this.stopping()]);
      await cron.stop();
      await scheduler.stop();
      this.scheduler = undefined;
      if (!this.stopped) {
        this.log.warn({ id: this.opts.id }, 'control-leadership-lost');
        this.emit('leader', false);
      }
    } finally {
      this.scheduler = undefined;
      if (this.stopped) {
        await this.election?.resign().catch(() => undefined);
        await session.close();
      } else {
        await session.close(); // a fresh session next term; the old lease's keys go with it
      }
    }
  }

  private stopping(): Promise<undefined> {
    return new Promise((r) => {
      if (this.stopped) return r(undefined);
      const prev = this.wake;
      this.wake = () => {
        prev?.();
        r(undefined);
      };
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      const prev = this.wake;
      this.wake = () => {
        prev?.();
        clearTimeout(t);
        r();
      };
    });
  }

  /** Stop leading and leave: resign (a follower takes over at once) and revoke the lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    const w = this.wake;
    this.wake = undefined;
    w?.();
    await this.scheduler?.stop();
    await this.loopDone;
  }
}
