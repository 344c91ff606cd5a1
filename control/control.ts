/**
 * @module control: one control-plane instance. Every instance serves the
 * Platform API and the slug store; the one elected through etcd also runs the
 * scheduler. State lives only in etcd (and slugs on disk), so any instance can die.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, type ClusterOptions } from '../cluster/client.ts';
import { loadClusterKey, peerToken } from '../cluster/sealed.ts';
import { logger, type Logger } from '../lib/log.ts';
import { ApiServer } from './api/server.ts';
import { serveAttach } from './api/attach.ts';
import type { ApiRouter } from './api/router.ts';
import { platformRoutes } from './api/routes/index.ts';
import { AddonProviders, type AddonConfig } from './addons/registry.ts';
import { addonRoutes } from './addons/routes.ts';
import { Logs } from './logs/index.ts';
import { startDeploys, type Deploys } from './git/index.ts';
import type { BuildIsolation } from './build/sandbox.ts';
import type { ControlContext } from './context.ts';
import { Leadership } from './leadership.ts';
import { AcmManager, type AcmOptions } from './certs/acm.ts';
import { ApiRoute } from './api-route.ts';
import { DEFAULT_RELEASE_PHASE_TIMEOUT_MS, ReleasePhaseRunner } from './release-phase/runner.ts';
import type { SchedulerOptions } from './scheduler/scheduler.ts';
import { sweepSlugs } from './slugs/gc.ts';
import { DirSlugStore, type SlugStore } from './slugs/store.ts';
import { ensureAdminToken } from './tokens.ts';
import { MetricsStore, type MetricsStoreOptions } from './metrics/store.ts';
import { UsageCloser } from './usage/closer.ts';
import { usageRoutes } from './usage/routes.ts';
import { advertisableHost } from '../lib/address.ts';
import { Egress, type EgressOptions } from '../lib/egress.ts';

export interface ControlOptions {
  cluster: ClusterOptions;
  /** Automatic Certificate Management over ACME (the leader runs it); absent: off. */
  acme?: AcmOptions;
  /** Serve the API and git through the routers at https://<apiDomain> (control/api-route.ts). */
  apiDomain?: string;
  listen: { host: string; port: number };
  /** How others reach this instance's API; defaults to http://<listen address>. */
  advertiseUrl?: string;
  dataDir: string;
  /** Metrics store tuning (tests flush sooner). */
  metrics?: MetricsStoreOptions;
  clusterKeyPath: string;
  baseDomain: string;
  routerPort: number;
  id: string;
  leaseTtlSeconds: number;
  /** Admin token to create on an empty cluster instead of a random one. */
  bootstrapToken?: string;
  /** Where to write a newly created admin token (mode 0600), e.g. for `dynomesh up`. */
  adminTokenFile?: string;
  scheduler?: SchedulerOptions;
  slugs?: SlugStore;
  /** Extra routes (git, builds, logs) mounted on the same API. */
  routes?: (router: ApiRouter, ctx: ControlContext) => void;
  /** Log service listener for producers (default: the API's host, any free port) and the host they dial. */
  logsListen?: { host: string; port: number };
  logsAdvertiseHost?: string;
  /** git push builds: compile time limit and compressed slug cap (defaults 15 min, 500 MB). */
  builds?: { timeoutMs?: number; maxSlugBytes?: number; buildDir?: string; isolation?: BuildIsolation };
  /** Add-on providers' servers (control/addons): `--addon-postgresql`, `--addon-redis`. */
  addons?: AddonConfig;
  /** How long a release command may run before it is stopped and its release fails (Heroku: 1 h). */
  releasePhaseTimeoutMs?: number;
  /** Private destinations tenants' drains, source URLs and buildpacks may reach (`--outbound-allow`); all others are refused. */
  egress?: EgressOptions;
  /** The one directory on this host that buildpack paths may name (`--buildpack-dir`). */
  buildpackDir?: string;
}

/** `host:port` of each configured add-on server (from its admin URL; the credentials stay here). */
function addonServers(cfg: AddonConfig | undefined): string[] {
  const out: string[] = [];
  for (const [u, port] of [[cfg?.postgresql, 5432], [cfg?.redis, 6379]] as const) {
    if (!u) continue;
    try {
      const url = new URL(u);
      out.push(`${url.hostname.replace(/^\[|\]$/g, '')}:${url.port || port}`);
    } catch {
      /* the provider reports a bad URL itself */
    }
  }
  return out;
}

export class ControlPlane {
  readonly log: Logger;
  readonly cluster: Cluster;
  ctx!: ControlContext;
  router!: ApiRouter;
  private server: ApiServer | undefined;
  leadership: Leadership | undefined;
  /** Automatic certificates (control/certs/acm.ts): runs while this instance leads. */
  acm: AcmManager | undefined;
  /** Per-app metrics of the apps whose logs this instance owns (control/metrics). */
  metrics: MetricsStore | undefined;
  /** Closes lost hosts' dyno usage while this instance leads (control/usage). */
  usageCloser: UsageCloser | undefined;
  private apiRoute: ApiRoute | undefined;
  /** The log service (control/logs): producers' listener, per-app buffers, tails, drains. */
  logs: Logs | undefined;
  private gcTimer: NodeJS.Timeout | undefined;
  /** git repos, the pre-receive hook socket and the builder (control/git, control/build). */
  deploys: Deploys | undefined;
  /** Runs the release commands of the releases this instance creates. */
  releasePhase: ReleasePhaseRunner | undefined;
  /** The API base URL, known once listening. */
  url = '';
  private ready = false;

  constructor(readonly opts: ControlOptions) {
    this.log = logger('control', { id: opts.id });
    this.cluster = new Cluster(opts.cluster);
  }

  /** Starts serving and campaigning. Returns the admin token when this start created it. */
  async start(): Promise<{ adminToken?: string }> {
    const o = this.opts;
    const clusterKey = loadClusterKey(o.clusterKeyPath, true);
    const token = peerToken(clusterKey);
    this.ctx = {
      cluster: this.cluster,
      clusterKey,
      slugs: o.slugs ?? new DirSlugStore(join(o.dataDir, 'slugs')),
      baseDomain: o.baseDomain,
      routerPort: o.routerPort,
      advertiseUrl: o.advertiseUrl ?? '',
      log: this.log,
      egress: new Egress(o.egress),
      ...(o.buildpackDir ? { buildpackDir: o.buildpackDir } : {}),
    };
    this.releasePhase = new ReleasePhaseRunner(this.ctx, { memberId: o.id, timeoutMs: o.releasePhaseTimeoutMs ?? DEFAULT_RELEASE_PHASE_TIMEOUT_MS });
    this.ctx.releasePhase = this.releasePhase;
    this.router = platformRoutes(this.ctx, { peerToken: token, selfId: o.id, isLeader: () => this.leadership?.isLeader ?? false, isReady: () => this.ready });
    this.ctx.addonProviders = AddonProviders.fromConfig(o.addons ?? {}, clusterKey);
    addonRoutes(this.router, this.ctx, this.ctx.addonProviders);
    o.routes?.(this.router, this.ctx);
    const logsListen = o.logsListen ?? { host: o.listen.host, port: 0 };
    this.logs = new Logs(this.cluster, { id: o.id, listen: logsListen, clusterKey, egress: this.ctx.egress! }, this.log.child({ component: 'logs' }));
    this.ctx.events = this.logs.events;
    this.logs.routes(this.router, this.ctx, token);
    const metrics = (this.metrics = new MetricsStore(this.cluster, this.log.child({ component: 'metrics' }), o.metrics));
    this.logs.service.onSample = (app, line) => metrics.add(app, line);
    metrics.start();
    usageRoutes(this.router, this.ctx, metrics);
    this.deploys = await startDeploys(this.router, this.ctx, { dataDir: o.dataDir, memberId: o.id, ...o.builds });
    this.server = new ApiServer(this.router, this.cluster, clusterKey, token, this.log.child({ component: 'api' }));
    serveAttach(this.server.server, this.ctx, token);
    const addr = await this.server.listen(o.listen.host, o.listen.port);
    // Listening on a wildcard without --advertise-url: advertise this host's own address, which peers can reach.
    const bound = advertisableHost(addr.address);
    const host = bound.includes(':') ? `[${bound}]` : bound;
    this.url = o.advertiseUrl ?? `http://${host}:${addr.port}`;
    if (o.apiDomain) {
      this.apiRoute = new ApiRoute(this.cluster, { domain: o.apiDomain, memberId: o.id, host: bound, port: addr.port, ttlSeconds: o.leaseTtlSeconds }, this.log.child({ component: 'api-route' }));
      await this.apiRoute.start();
    }
    this.ctx.advertiseUrl = this.url;

    const adminToken = await ensureAdminToken(this.cluster, o.bootstrapToken);
    if (adminToken && o.adminTokenFile) writeFileSync(o.adminTokenFile, adminToken + '\n', { mode: 0o600 });

    // Producers on other hosts dial the host they reach the API on, unless told otherwise.
    const logsAddress = await this.logs.start(o.logsAdvertiseHost ?? new URL(this.url).hostname.replace(/^\[|\]$/g, ''));
    this.leadership = new Leadership(this.cluster, { id: o.id, api: this.url, logs: logsAddress, addonServers: addonServers(o.addons), leaseTtlSeconds: o.leaseTtlSeconds, ...(o.scheduler ? { scheduler: o.scheduler } : {}) }, this.log);
    if (o.acme) {
      const acm = (this.acm = new AcmManager(this.cluster, clusterKey, o.acme, this.log.child({ component: 'acm' })));
      this.leadership.on('leader', (on) => (on ? acm.start() : void acm.stop()));
    }
    const closer = (this.usageCloser = new UsageCloser(this.cluster, this.log.child({ component: 'usage' })));
    this.leadership.on('leader', (on) => (on ? closer.start() : void closer.stop()));
    await this.leadership.start();
    void this.releasePhase.recover().then(
      (n) => n && this.log.warn({ releases: n }, 'orphaned-release-phases-failed'),
      (err: Error) => this.log.warn({ err: err.message }, 'orphaned-release-phases-check-failed'),
    );
    this.ready = true;
    this.gcTimer = setInterval(() => void sweepSlugs(this.ctx).catch(() => undefined), 10 * 60_000);
    this.gcTimer.unref();
    this.log.info({ url: this.url, dataDir: o.dataDir }, 'control-started');
    return adminToken ? { adminToken } : {};
  }

  async stop(): Promise<void> {
    clearInterval(this.gcTimer);
    await this.deploys?.close(); // running builds fail and their pushes are rejected, before the API goes away
    await this.releasePhase?.close(); // release commands still running fail; their previous releases keep serving
    await this.apiRoute?.stop();
    await this.acm?.stop();
    await this.leadership?.stop();
    await this.usageCloser?.stop();
    await this.logs?.stop();
    await this.metrics?.close();
    await this.server?.close();
    await this.ctx?.egress?.close();
    this.cluster.close();
    this.log.info('control-stopped');
  }
}
