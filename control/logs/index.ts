/**
 * @module control/logs: the log service of one control instance, wired as one
 * unit: member directory, the instance's own producer (platform events and
 * forwarding), the TCP service, drains, and the API routes. See README.md.
 */
import type { Cluster } from '../../cluster/client.ts';
import { Egress } from '../../lib/egress.ts';
import type { Logger } from '../../lib/log.ts';
import { deriveCredential } from '../../logplex/credential.ts';
import { LogMembers } from '../../logplex/owners.ts';
import { LogShipper } from '../../logplex/shipper.ts';
import type { ApiRouter } from '../api/router.ts';
import type { ControlContext } from '../context.ts';
import { DrainManager } from './drains/manager.ts';
import { AppEvents } from './events.ts';
import { EnrolledNodes } from './enrolled-nodes.ts';
import { PlacedApps } from './placed-apps.ts';
import { KnownApps } from './known-apps.ts';
import { logRoutes } from './routes.ts';
import { LogService } from './service.ts';

export interface LogsOptions {
  id: string;
  listen: { host: string; port: number };
  /** Verifies producers' credentials and is the source of this instance's own (`control:<id>`). */
  clusterKey: Buffer;
  /** The guard drains connect through (default: refuse every private destination). */
  egress?: Egress;
  maxBehindBytes?: number;
}

export class Logs {
  readonly members: LogMembers;
  readonly shipper: LogShipper;
  readonly service: LogService;
  readonly drains: DrainManager;
  readonly events: AppEvents;
  readonly apps: KnownApps;
  readonly nodes: EnrolledNodes;
  readonly placed: PlacedApps;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(private readonly cluster: Cluster, private readonly opts: LogsOptions, private readonly log: Logger) {
    this.members = new LogMembers(cluster, log);
    this.apps = new KnownApps(cluster, log);
    this.nodes = new EnrolledNodes(cluster, log);
    this.placed = new PlacedApps(cluster, log);
    this.service = new LogService(opts.id, this.members, log, { clusterKey: opts.clusterKey, apps: this.apps, nodes: this.nodes, placed: this.placed });
    this.shipper = new LogShipper(this.members, log, {
      credential: deriveCredential(opts.clusterKey, `control:${opts.id}`),
      local: { id: opts.id, deliver: (recs, hops) => this.service.ingest(recs, hops) },
    });
    this.service.attach(this.shipper);
    this.drains = new DrainManager(cluster, (app) => this.service.owns(app), (rec) => this.service.store.append([rec]), log.child({ component: 'drains' }), opts.egress ?? new Egress());
    this.service.store.onAppend = (app, entries) => this.drains.push(app, entries);
    this.members.onChange(() => this.drains.reconcile());
    this.events = new AppEvents(this.shipper);
  }

  /** Listens for producers; returns the `host:port` to advertise in the member record. */
  async start(advertiseHost?: string): Promise<string> {
    await this.apps.start();
    await this.nodes.start();
    await this.placed.start();
    const addr = await this.service.listen(this.opts.listen.host, this.opts.listen.port, advertiseHost);
    await this.members.start();
    await this.drains.start();
    this.sweepTimer = setInterval(() => void this.sweepDestroyed().catch(() => undefined), 60_000);
    this.sweepTimer.unref();
    return addr;
  }

  /**
   * Forgets the lines of apps that no longer exist (destroyed, as Heroku deletes an
   * app's logs with it). Only apps held before the list started are judged, so an
   * app created meanwhile is not mistaken for a destroyed one.
   */
  async sweepDestroyed(): Promise<string[]> {
    const held = this.service.store.appNames();
    if (!held.length) return [];
    const { entries } = await this.cluster.list(this.cluster.keys.apps());
    const live = new Set(entries.map((e) => (e.value as { name: string }).name));
    const gone = held.filter((a) => !live.has(a));
    for (const a of gone) this.service.store.release(a, 'app destroyed');
    if (gone.length) this.log.info({ apps: gone }, 'log-buffers-of-destroyed-apps-dropped');
    return gone;
  }

  routes(r: ApiRouter, ctx: ControlContext, peerToken: string): void {
    logRoutes(r, ctx, { service: this.service, peerToken, ...(this.opts.maxBehindBytes ? { maxBehindBytes: this.opts.maxBehindBytes } : {}) });
  }

  /** Call after the member key is gone (leadership stopped): our apps and their history go to their next owners first. */
  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    const deadline = Date.now() + 1500;
    while (this.members.get(this.opts.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await this.shipper.close(1000);
    await this.drains.close();
    await this.service.close();
    await this.members.close();
    await this.apps.close();
    await this.nodes.close();
    await this.placed.close();
  }
}
