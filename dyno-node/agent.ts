/**
 * @module dyno-node: the agent on every host. It registers the node on a lease,
 * watches the placements the scheduler writes for it, and converges the dynos
 * it runs toward them (one `Slot` per dyno name). It survives its own restart:
 * runs it left behind are adopted when still desired, stopped otherwise.
 */
import { hostname, totalmem } from 'node:os';
import { chmod, mkdir, rm, rmdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Cluster } from '../cluster/client.ts';
import type { Node, Placement } from '../cluster/records.ts';
import { parseSignature, verifySignature, type NodeCredentialFile } from '../cluster/node-credential.ts';
import type { AllowRule } from '../container/firewall.ts';
import { Isolation, type IsolationMode } from '../container/isolation.ts';
import { mountsUnder, Volume } from '../container/volume.ts';
import { Session } from '../cluster/session.ts';
import { watchPrefix, type Change, type PrefixWatch } from '../cluster/watch.ts';
import { logger, type Logger } from '../lib/log.ts';
import { CrashPolicy, HEROKU_COOL_OFFS_MS } from './backoff.ts';
import { detectCgroups, DynoCgroup, type CgroupBase, type MemoryMode } from './memory.ts';
import { fanOut, PinoSink, RingSink, type LogSink } from './output.ts';
import { signalGroup, sameProcess } from './procfs.ts';
import { Publisher } from './publisher.ts';
import { OneOffLedger, RunStore, type RunRecord } from './run-store.ts';
import { Run, type RunContext, type RunSpec } from './run.ts';
import { Slot } from './slot.ts';
import { AttachServer } from './attach.ts';
import { watchAddonServers } from './addon-servers.ts';
import { slugPool, type SlugPool } from './slug-pool.ts';
import { SlugCache } from './slugs.ts';
import { ReleaseSource } from './releases.ts';
import { DynoUsers } from './users.ts';
import { UsageMeter } from './usage.ts';
import { DynoSampler } from './dyno-metrics.ts';

export const AGENT_VERSION = '0.1.0';

export interface AgentOptions {
  cluster: Cluster;
  /** This node's own credential (`nodes:enroll`): fetches its releases and slugs, admits controls to attach. */
  credential: NodeCredentialFile;
  /** Defaults to the credential's node id; must match it. */
  nodeId?: string;
  /** Address routers reach this node's dynos on. */
  advertise?: string;
  dataDir: string;
  /** Capacity offered to the scheduler (MB). */
  memoryMb?: number;
  labels?: Record<string, string>;
  leaseTtlSeconds?: number;
  bootTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** Pause between removing an endpoint and SIGTERM, so routers stop sending first. */
  drainMs?: number;
  coolOffsMs?: number[];
  goodRunMs?: number;
  memoryMode?: MemoryMode;
  memoryPollMs?: number;
  /**
   * Where to serve one-off attach (host and port; port 0 picks one). Its URL is
   * advertised as the node record's `agentUrl`. False: no attach endpoint.
   */
  attachListen?: { host: string; port: number } | false;
  /** How long an attached one-off waits for its requester (R13 after). */
  attachTimeoutMs?: number;
  /** Daily dyno cycling (Heroku: 24 h + up to 216 min); 0 turns it off. */
  cycleMs?: number;
  cycleJitterMs?: number;
  /** How often unused slugs are dropped from the cache. */
  slugPruneMs?: number;
  /**
   * Tenant isolation: each dyno in its own OCI container on its own network (container/).
   * `auto`: when root (refusing to start if the host lacks runc, CNI plugins or nftables),
   * else off with a warning. Default off, for embedding and unit tests.
   */
  isolation?: {
    mode: IsolationMode;
    subnet?: string;
    allow?: AllowRule[];
    /** Names the bridge and table; one per agent on a host. */
    name?: string;
    /** Size of each dyno's /app volume (default 2 GiB); unbounded where the host has no loop devices. */
    diskBytes?: number;
  };
  sink?: LogSink;
  log?: Logger;
  /** How often dyno memory/CPU samples are shipped for app metrics (default 10 s). */
  metricsSampleMs?: number;
}

const slotKey = (app: string, dyno: string) => `${app}/${dyno}`;

export class Agent {
  readonly nodeId: string;
  readonly log: Logger;
  readonly ring = new RingSink(1500);
  readonly slots = new Map<string, Slot>();
  readonly publisher: Publisher;
  cgroups: CgroupBase | undefined;
  /** URL of this node's attach endpoint, advertised in its node record. */
  agentUrl: string | undefined;
  private attach: AttachServer | undefined;
  private session: Session | undefined;
  private watch: PrefixWatch | undefined;
  private addonWatch: PrefixWatch | undefined;
  private pool: SlugPool | undefined;
  private slugs!: SlugCache;
  private oneOffs!: OneOffLedger;
  private ctx!: RunContext;
  private closing = false;
  private queue: Promise<void> = Promise.resolve();
  /** Live runs from a previous agent process, waiting for the first placement list. */
  private leftovers: RunRecord[] = [];
  /** Dynos whose process died while no agent ran: their endpoints (old lease) go before routers try them. */
  private readonly deadEndpoints = new Set<string>();
  private readonly startedAt = Date.now();
  private readonly sink: LogSink;
  /** The sampler sees dyno lines (it counts R14 events) once it exists. */
  private readonly samplerTap: LogSink & { target?: LogSink } = { write(rec) { this.target?.write(rec); } };
  /** app@version -> slug sha256, learned when releases are read; decides what the cache keeps. */
  private readonly releaseSlugs = new Map<string, string>();
  private pruneTimer: NodeJS.Timeout | undefined;
  isolation: Isolation | undefined;
  /** Dyno-seconds of this node's runs (issue 19). */
  usage: UsageMeter | undefined;
  /** Memory and CPU of this node's dynos, for their apps' metrics. */
  private sampler: DynoSampler | undefined;

  private readonly releases: ReleaseSource;

  constructor(readonly opts: AgentOptions) {
    this.nodeId = opts.nodeId ?? opts.credential.node;
    if (this.nodeId !== opts.credential.node) throw new Error(`the node credential is for node ${opts.credential.node}, not ${this.nodeId}; enrol this node as ${this.nodeId} or run it as --node-id ${opts.credential.node}`);
    this.releases = new ReleaseSource(opts.cluster, opts.credential);
    this.log = opts.log ?? logger('dyno-node', { node: this.nodeId });
    this.sink = fanOut(this.ring, opts.sink ?? new PinoSink(this.log), this.samplerTap);
    this.publisher = new Publisher(opts.cluster, this.nodeId, this.log);
  }

  private get keys() {
    return this.opts.cluster.keys;
  }

  async start(): Promise<void> {
    const o = this.opts;
    const dirs = { dynos: `${o.dataDir}/dynos`, runs: `${o.dataDir}/runs`, slugs: `${o.dataDir}/slugs`, state: `${o.dataDir}/state` };
    this.isolation = await this.startIsolation(o);
    // Dyno users on the host need to reach their own directory (traverse only, no listing); containers need nothing.
    const mode = this.isolation ? 0o700 : 0o711;
    await mkdir(o.dataDir, { recursive: true, mode });
    await mkdir(dirs.dynos, { recursive: true, mode });
    await chmod(o.dataDir, mode);
    await chmod(dirs.dynos, mode);
    if (process.getuid?.() === 0 && !this.isolation) await this.checkTraversable(dirs.dynos);
    const memoryMode = o.memoryMode ?? 'auto';
    this.cgroups = memoryMode === 'rss' && !this.isolation ? undefined : await detectCgroups(this.nodeId, this.log);
    if (memoryMode === 'cgroup' && !this.cgroups) throw new Error('--memory-enforcement cgroup: no writable memory cgroup (v1 or v2) on this host');
    if (this.isolation && !this.cgroups) throw new Error('isolated dynos need a cgroup hierarchy (v1 memory or v2) this agent can write; none found');
    this.log.info({ memory: this.cgroups ? `cgroup ${this.cgroups.kind} ${this.cgroups.dir}` : 'rss polling' }, 'memory-enforcement');
    this.pool = slugPool();
    this.slugs = new SlugCache(o.cluster, dirs.slugs, (method, path) => this.releases.sign(method, path), this.pool, this.log);
    this.slugs.onCached = () => void this.register().catch(() => undefined);
    const store = new RunStore(dirs.state);
    this.oneOffs = new OneOffLedger(`${o.dataDir}/oneoffs`);
    const advertise = o.advertise ?? '127.0.0.1';
    if (o.attachListen !== false) {
      const listen = o.attachListen ?? { host: advertise, port: 0 };
      const { secret, node } = o.credential;
      this.attach = new AttachServer((authorization, path) => {
        const s = parseSignature(authorization);
        return !!s && s.node === node && verifySignature(secret, s, 'control', 'GET', path);
      }, this.log);
      this.agentUrl = await this.attach.start(listen.host, listen.port, advertise);
    }
    this.ctx = {
      log: this.log, sink: this.sink, dynosDir: dirs.dynos, runsDir: dirs.runs, store, slugs: this.slugs, pool: this.pool,
      users: new DynoUsers(this.log), cgroups: this.cgroups, memoryMode, advertise,
      bootTimeoutMs: o.bootTimeoutMs ?? 60_000, stopTimeoutMs: o.stopTimeoutMs ?? 30_000, memoryPollMs: o.memoryPollMs ?? 1000,
      ports: new Set(), resolve: (p) => this.resolve(p), attach: this.attach, attachTimeoutMs: o.attachTimeoutMs ?? 60_000,
      isolation: this.isolation,
      diskBytes: this.isolation ? this.diskBytes(o) : undefined,
    };
    await this.sweepLeftovers(store);
    this.usage = new UsageMeter(o.cluster, this.nodeId, `${o.dataDir}/usage-alive`, this.log);
    // Open usage of runs that ended while no agent ran is closed before anything new starts.
    await this.usage.sweep(new Set(this.leftovers.map((r) => r.run))).catch((err: Error) => this.log.warn({ err: err.message }, 'usage-sweep-failed'));
    if (o.sink) {
      this.sampler = new DynoSampler(store, o.sink, this.log, o.metricsSampleMs ?? 10_000);
      this.samplerTap.target = this.sampler;
      this.sampler.start();
    }
    if (this.isolation) {
      // Namespaces, address leases, bundles and runtime state no live run owns (a SIGKILLed agent's half-made starts).
      const live = new Set(this.leftovers.map((r) => r.container).filter((c): c is string => !!c));
      const removed = await this.isolation.sweep(live);
      if (removed.length) this.log.info({ containers: removed }, 'stale-containers-removed');
      // Volumes of starts the kill interrupted before their record was written.
      const volumes = new Set(this.leftovers.map((r) => r.volume));
      for (const m of await mountsUnder(dirs.dynos)) {
        if (volumes.has(m)) continue;
        await Volume.existing(m).destroy();
        this.log.info({ volume: m }, 'stale-volume-removed');
      }
      this.addonWatch = watchAddonServers(o.cluster, this.isolation, this.log);
    }
    void this.keepSession();
    await this.firstSession;
    for (const k of this.deadEndpoints) {
      const [app, dyno] = k.split('/') as [string, string];
      if (!this.leftovers.some((r) => r.app === app && r.dyno === dyno)) void this.publisher.remove(this.keys.endpoint(this.nodeId, app, dyno));
    }
    this.watch = watchPrefix(o.cluster, this.keys.placementsOf(this.nodeId), {
      onChanges: (changes, _rev, initial) => {
        this.queue = this.queue.then(() => this.apply(changes, initial)).catch((err) => this.log.error({ err }, 'placements-apply-failed'));
      },
      onStatus: (connected) => this.log.info({ connected }, 'placements-watch-status'),
    }, this.log);
    await this.watch.ready;
    await this.queue;
    this.pruneTimer = setInterval(() => void this.pruneSlugs(), o.slugPruneMs ?? 10 * 60_000);
    this.pruneTimer.unref();
    this.log.info({ advertise: this.ctx.advertise, dataDir: o.dataDir }, 'dyno-node-started');
  }

  private diskBytes(o: AgentOptions): number | undefined {
    const why = Volume.unsupported();
    if (!why) return o.isolation?.diskBytes ?? 2 * 1024 ** 3;
    this.log.warn({ why, hint: 'a dyno can fill the disk of the data dir; give it its own filesystem' }, 'dyno-disk-unbounded');
    return undefined;
  }

  private async startIsolation(o: AgentOptions): Promise<Isolation | undefined> {
    const want = o.isolation?.mode ?? 'off';
    if (want === 'off') {
      if (o.isolation) this.log.warn({ hint: 'every dyno shares this host\'s network, files and processes' }, 'isolation-off: dynos are not isolated');
      return undefined;
    }
    if (process.getuid?.() !== 0) {
      if (want !== 'auto') throw new Error(`--isolation ${want} needs root (containers and their network are set up by root)`);
      this.log.warn({ hint: 'run the dyno-node as root to put every dyno in its own container' }, 'dynos-not-isolated: not root, so dynos run as this user on the host');
      return undefined;
    }
    return Isolation.start({
      runtime: want === 'auto' ? 'auto' : want, stateDir: `${o.dataDir}/containers`, name: o.isolation?.name ?? 'node',
      subnet: o.isolation?.subnet ?? '10.231.0.0/16', allow: o.isolation?.allow ?? [], log: this.log,
    });
  }

  private async checkTraversable(dir: string): Promise<void> {
    for (let d = dirname(dir); d !== '/'; d = dirname(d)) {
      const st = await stat(d);
      if ((st.mode & 0o001) === 0) {
        throw new Error(`dyno users cannot reach ${dir}: ${d} is not searchable by others (mode ${(st.mode & 0o777).toString(8)}); use a --data-dir outside it (e.g. /var/lib/dynomesh/node) or chmod o+x ${d}`);
      }
    }
  }

  /** Records of runs whose process is gone are cleaned up; live ones wait for the placement list. */
  private async sweepLeftovers(store: RunStore): Promise<void> {
    const { records, broken } = await store.list();
    for (const f of broken) this.log.warn({ file: f }, 'run-record-unreadable-dropped');
    for (const rec of records) {
      if (rec.pid > 1 && (await sameProcess(rec.pid, rec.startTime))) {
        this.leftovers.push(rec);
        continue;
      }
      this.log.info({ app: rec.app, dyno: rec.dyno, run: rec.run }, 'dead-run-cleaned');
      this.deadEndpoints.add(`${rec.app}/${rec.dyno}`);
      if (rec.pid > 1) signalGroup(rec.pid, 'SIGKILL'); // stragglers of its group, if any
      if (rec.container) await this.isolation?.existing(rec.container, rec.port ? [{ hostPort: rec.port, containerPort: rec.port }] : []).destroy();
      if (rec.volume) await Volume.existing(rec.volume).destroy();
      if (rec.cgroup) await DynoCgroup.open(rec.cgroup.kind, rec.cgroup.path)?.remove();
      await rm(rec.dir, { recursive: true, force: true });
      await rm(rec.logFile, { force: true });
      await store.remove(rec);
    }
  }

  private resolveFirst!: () => void;
  private readonly firstSession = new Promise<void>((r) => (this.resolveFirst = r));

  /** Keep a lease: register the node on it; when it is lost, stop advertising and get a new one. */
  private async keepSession(): Promise<void> {
    let delay = 200;
    while (!this.closing) {
      try {
        const s = await Session.create(this.opts.cluster, this.opts.leaseTtlSeconds ?? 10);
        if (this.closing) {
          await s.close();
          return;
        }
        this.session = s;
        await this.register();
        this.publisher.setLease(s.id);
        this.log.info({ lease: s.hex }, 'node-registered');
        // Runs the control closed while this node's lease was gone count again from now.
        this.usage?.resync();
        this.resolveFirst();
        delay = 200;
        const err = await s.done;
        if (this.closing) return;
        this.session = undefined;
        this.publisher.setLease(undefined);
        this.log.warn({ err: err.message }, 'node-lease-lost');
      } catch (err) {
        this.log.warn({ err: (err as Error).message, retryInMs: delay }, 'node-register-failed');
        this.session = undefined;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  private async register(): Promise<void> {
    const s = this.session;
    if (!s) return;
    const node: Node = {
      id: this.nodeId,
      address: this.ctx.advertise,
      memoryMb: this.opts.memoryMb ?? Math.floor(totalmem() / 1048576),
      labels: this.opts.labels ?? {},
      slugs: await this.slugs.cached(),
      startedAt: this.startedAt,
      agentVersion: AGENT_VERSION,
      ...(this.agentUrl ? { agentUrl: this.agentUrl } : {}),
    };
    await s.put(this.keys.node(this.nodeId), node);
  }

  /** The release of a placement, from a control (which serves only releases placed here). */
  private async resolve(p: Placement): Promise<RunSpec> {
    const rel = await this.releases.get(p.app, p.release);
    if (rel.slug) this.releaseSlugs.set(`${p.app}@${p.release}`, rel.slug.sha256);
    const command = p.command ?? rel.processTypes[p.type];
    if (!command) {
      const known = Object.keys(rel.processTypes).join(', ') || 'none';
      throw new Error(`release v${p.release} of ${p.app} has no process type "${p.type}" (has: ${known})`);
    }
    return { command, config: rel.config, slug: rel.slug, ...(rel.healthcheck && p.type === 'web' && !p.command ? { healthcheck: rel.healthcheck } : {}) };
  }

  private slot(app: string, dyno: string): Slot {
    const k = slotKey(app, dyno);
    let s = this.slots.get(k);
    if (!s) {
      s = new Slot(app, dyno, {
        nodeId: this.nodeId, advertise: this.ctx.advertise, keys: this.keys, log: this.log, sink: this.sink,
        publisher: this.publisher, drainMs: this.opts.drainMs ?? 1000,
        cycleMs: this.opts.cycleMs ?? 24 * 3_600_000, cycleJitterMs: this.opts.cycleJitterMs ?? 216 * 60_000,
        newPolicy: () => new CrashPolicy(this.opts.coolOffsMs ?? HEROKU_COOL_OFFS_MS, this.opts.goodRunMs ?? 10 * 60_000),
        startRun: (p, onChange) => Run.start(this.ctx, p, (r) => {
          this.usage?.onChange(r);
          onChange(r);
        }),
        oneOffs: this.oneOffs,
        idle: (sl) => {
          if (this.slots.get(k) === sl) this.slots.delete(k);
        },
      });
      this.slots.set(k, s);
    }
    return s;
  }

  private async apply(changes: Change[], initial: boolean): Promise<void> {
    if (this.closing) return;
    // On the first list, nothing starts until leftovers are adopted: else a dyno still
    // running from the previous agent process would get a twin.
    const kick = !initial;
    for (const c of changes) {
      if (c.type === 'put' && c.entry.kind === 'placement') {
        const p = c.entry.value;
        this.slot(p.app, p.dyno).setDesired(p, kick, c.entry.createRevision);
      } else if (c.type === 'delete' && c.ref?.kind === 'placement') {
        this.slots.get(slotKey(c.ref.app, c.ref.dyno))?.setDesired(undefined, kick);
      }
    }
    if (initial) {
      await this.adoptLeftovers();
      for (const s of this.slots.values()) s.kick();
    }
  }

  /**
   * Runs a previous agent process left: a live one whose dyno is still placed
   * here is adopted (the slot replaces it if its release is stale); the rest
   * are stopped. At most one live run per dyno is kept as current.
   */
  private async adoptLeftovers(): Promise<void> {
    const recs = this.leftovers.sort((a, b) => Number(!!b.upAt) - Number(!!a.upAt) || b.startedAt - a.startedAt);
    this.leftovers = [];
    for (const rec of recs) {
      const slot = this.slot(rec.app, rec.dyno);
      const want = slot.desired;
      const placement: Placement = {
        app: rec.app, dyno: rec.dyno, type: rec.type, release: rec.release, restartNonce: rec.restartNonce,
        size: want?.size ?? 'standard-1x', memoryMb: rec.memoryMb, createdAt: want?.createdAt ?? rec.startedAt,
        ...(rec.oneOff && want?.command ? { command: want.command } : {}),
      };
      const run = await Run.adopt(this.ctx, rec, placement, (r) => {
        this.usage?.onChange(r);
        slot.kick();
      });
      this.usage?.adopt(run);
      if (rec.attached) {
        // Its requester was connected to the previous agent process; that connection is gone.
        this.log.info({ app: rec.app, dyno: rec.dyno, run: rec.run }, 'attached-one-off-requester-gone');
        void run.stop();
        slot.finish('Requester disconnected (the dyno-node agent restarted)');
        continue;
      }
      this.log.info({ app: rec.app, dyno: rec.dyno, run: rec.run, pid: rec.pid, desired: !!want }, want ? 'run-adopted' : 'run-orphaned-stopping');
      if (!want) void this.publisher.remove(this.keys.endpoint(this.nodeId, rec.app, rec.dyno));
      slot.adopt(run);
    }
  }

  /** Drop cached slugs no desired or running dyno uses, and advertise what is left. */
  async pruneSlugs(): Promise<void> {
    const keep = new Set<string>();
    for (const s of this.slots.values()) {
      for (const p of [s.desired, s.current?.placement, s.pending?.placement]) {
        const sha = p && this.releaseSlugs.get(`${p.app}@${p.release}`);
        if (sha) keep.add(sha);
        else if (p) return; // a release not read yet: its slug is unknown, so keep everything this round
      }
    }
    await this.slugs.prune(keep);
    await this.register().catch(() => undefined);
  }

  /** Whether the placements watch is connected to etcd. */
  get watching(): boolean {
    return this.watch?.isConnected ?? false;
  }

  /** Running dynos of this node (for `ps`-like output and tests). */
  dynos(): { app: string; dyno: string; state: string; release: number; port?: number; pid?: number }[] {
    const out = [];
    for (const s of this.slots.values()) {
      const r = s.current;
      if (r) out.push({ app: s.app, dyno: s.dyno, state: r.state, release: r.placement.release, port: r.port, pid: r.pid });
    }
    return out;
  }

  /**
   * Stop the agent. With `stopDynos` (the default, `systemctl stop`), every dyno
   * is stopped and the node leaves. Without it, dynos keep running and the next
   * agent process adopts them (an in-place upgrade).
   */
  async shutdown({ stopDynos = true }: { stopDynos?: boolean } = {}): Promise<void> {
    this.closing = true;
    clearInterval(this.pruneTimer);
    await this.watch?.close();
    await this.addonWatch?.close();
    await this.queue;
    if (stopDynos) await Promise.all([...this.slots.values()].map((s) => s.stopAll()));
    else await Promise.all([...this.slots.values()].flatMap((s) => [s.current, s.pending, ...s.retiring]).map((r) => r?.handOverPort()));
    this.sampler?.stop();
    await this.usage?.stop();
    await this.publisher.flush();
    this.publisher.close();
    if (stopDynos) await this.session?.close();
    else this.session?.orphan();
    this.resolveFirst?.();
    await this.attach?.close();
    await this.pool?.close();
    if (stopDynos && this.cgroups) await rmdir(this.cgroups.dir).catch(() => undefined);
    this.log.info({}, 'dyno-node-stopped');
  }
}
