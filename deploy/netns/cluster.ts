/**
 * A whole dynomesh cluster on one machine, one network namespace per host:
 * e1-e3 run a 3-member etcd cluster, c1-c2 `dynomesh control`, r1-r2
 * `dynomesh router`, n1-n3 `dynomesh dyno-node`. Each daemon binds and
 * advertises its host's own address, as on real hosts. `destroy()` (also run
 * on exit, SIGINT and SIGTERM) leaves no namespace, link or process behind; a
 * run that crashed anyway is removed by the next `start()`.
 */
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster } from '../../cluster/client.ts';
import { enrolNode, writeNodeCredential } from '../../cluster/node-credential.ts';
import { loadClusterKey } from '../../cluster/sealed.ts';
import { CONTROL_USER, nodeUser, ROUTER_USER, setupEtcdAuth } from '../../cluster/etcd-auth.ts';
import { etcdHealthy } from '../../cluster/etcd-server.ts';
import { clientCert, ensurePki, type ClientCert } from '../../cluster/pki.ts';
import { deriveCredential, writeCredential } from '../../logplex/credential.ts';
import { Daemon } from './daemon.ts';
import { blackhole, claimRun, cleanupStale, createBridge, createHost, destroyRun, freeSubnet, killAllIn, nsName, requireRoot, setLink } from './net.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/dynomesh.js');

export type Role = 'etcd' | 'control' | 'router' | 'node';

export interface Host {
  name: string;
  role: Role;
  addr: string;
}

export interface NetnsClusterOptions {
  /** Base domain apps answer on at the routers (`<app>.<base-domain>`). */
  baseDomain?: string;
  /** Admin token control creates on its first start (DYNOMESH_BOOTSTRAP_TOKEN). */
  adminToken?: string;
  /** Lease TTLs (seconds): control membership/leadership and dyno-node (endpoints vanish after it). */
  controlLeaseTtl?: number;
  nodeLeaseTtl?: number;
  /** DYNOMESH_LOG_LEVEL of the daemons. */
  logLevel?: string;
  /** Extra flags per role (tests shorten timeouts this way). */
  extraArgs?: Partial<Record<Role, string[]>>;
}

const LAYOUT: [string, Role, number][] = [
  ['e1', 'etcd', 11], ['e2', 'etcd', 12], ['e3', 'etcd', 13],
  ['c1', 'control', 21], ['c2', 'control', 22],
  ['r1', 'router', 31], ['r2', 'router', 32],
  ['n1', 'node', 41], ['n2', 'node', 42], ['n3', 'node', 43],
];

export const API_PORT = 5050;
export const ROUTER_PORT = 80;
export const ROUTER_ADMIN_PORT = 8080;

async function until(what: string, ms: number, check: () => Promise<boolean>, dead?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const died = dead?.();
    if (died) throw new Error(died);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${ms / 1000}s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const ok = async (url: string): Promise<boolean> => (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;

export class NetnsCluster {
  readonly run = randomBytes(3).toString('hex').slice(0, 5);
  readonly dir = `/tmp/dmnet-${this.run}`;
  readonly hosts: Host[];
  readonly daemons = new Map<string, Daemon>();
  readonly baseDomain: string;
  readonly adminToken: string;
  private subnet = 0;
  private destroyed = false;
  private readonly onExit = () => this.destroySync();
  private readonly onSignal = (sig: NodeJS.Signals) => {
    this.destroySync();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };

  constructor(readonly o: NetnsClusterOptions = {}) {
    this.baseDomain = o.baseDomain ?? 'dmnet.test';
    this.adminToken = o.adminToken ?? `dm_netns-${randomBytes(16).toString('hex')}`;
    this.hosts = [];
  }

  host(name: string): Host {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name} in this cluster`);
    return h;
  }

  ofRole(role: Role): Host[] {
    return this.hosts.filter((h) => h.role === role);
  }

  /** etcd takes only client certificates, one per daemon (its etcd user and role: cluster/etcd-auth.ts). */
  get etcdEndpoints(): string[] {
    return this.ofRole('etcd').map((h) => `https://${h.addr}:2379`);
  }

  get pki(): string {
    return join(this.dir, 'pki');
  }

  /** The etcd certificate of the daemon on `h` (etcd's own administrator for etcd hosts). */
  etcdCert(h: Host): ClientCert {
    const user = h.role === 'control' ? CONTROL_USER : h.role === 'router' ? ROUTER_USER : h.role === 'node' ? nodeUser(h.name) : 'root';
    return clientCert(this.pki, user);
  }

  /** Whether the etcd member on `name` answers /health. */
  etcdHealthy(name: string): Promise<boolean> {
    return etcdHealthy(`https://${this.host(name).addr}:2379`, clientCert(this.pki, 'root'));
  }

  get apiUrls(): string[] {
    return this.ofRole('control').map((h) => `http://${h.addr}:${API_PORT}`);
  }

  get routerAddrs(): string[] {
    return this.ofRole('router').map((h) => h.addr);
  }

  /** A client on the cluster's etcd, from the root namespace (over the bridge). */
  client(): Cluster {
    const c = clientCert(this.pki, CONTROL_USER);
    return new Cluster({ endpoints: this.etcdEndpoints, callTimeoutMs: 3000, tls: { ca: readFileSync(c.ca), cert: readFileSync(c.cert), key: readFileSync(c.key) } });
  }

  daemon(host: string): Daemon {
    const d = this.daemons.get(host);
    if (!d) throw new Error(`no daemon on ${host}`);
    return d;
  }

  async start(): Promise<void> {
    requireRoot();
    cleanupStale();
    claimRun(this.run);
    process.once('exit', this.onExit);
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
    try {
      this.subnet = freeSubnet();
      for (const [name, role, last] of LAYOUT) this.hosts.push({ name, role, addr: `10.213.${this.subnet}.${last}` });
      mkdirSync(this.dir, { recursive: true });
      chmodSync(this.dir, 0o711); // dyno users (as root) traverse to their dyno dirs
      loadClusterKey(join(this.dir, 'cluster.key'), true);
      const nodes = this.ofRole('node').map((h) => h.name);
      ensurePki(this.pki, [...this.ofRole('etcd').map((h) => h.addr), '127.0.0.1'], ['root', CONTROL_USER, ROUTER_USER, ...nodes.map(nodeUser)]);
      createBridge(this.run, this.subnet);
      for (const h of this.hosts) createHost(this.run, h.name, h.addr);
      for (const h of this.hosts) this.daemons.set(h.name, this.daemonFor(h));
      await this.startRole('etcd');
      await setupEtcdAuth(this.etcdEndpoints[0]!, clientCert(this.pki, 'root'), '/dynomesh/', this.ofRole('node').map((h) => h.name));
      await this.enrolNodes();
      await this.startRole('control');
      await this.startRole('node');
      await this.startRole('router');
    } catch (err) {
      await this.destroy();
      throw err;
    }
  }

  /** Each node its own credential, as an operator runs `dynomesh nodes:enroll`: nodes never hold the cluster key. */
  private async enrolNodes(): Promise<void> {
    const c = this.client();
    try {
      const key = loadClusterKey(join(this.dir, 'cluster.key'));
      for (const h of this.ofRole('node')) writeNodeCredential(join(this.dir, h.name, 'node.credential'), await enrolNode(c, key, h.name, 'netns'));
    } finally {
      c.close();
    }
  }

  private async startRole(role: Role): Promise<void> {
    await Promise.all(this.ofRole(role).map((h) => this.startHost(h.name)));
  }

  /** (Re)starts the daemon of a host and waits until it serves. */
  async startHost(name: string): Promise<void> {
    const h = this.host(name);
    const d = this.daemon(name);
    d.start();
    const dead = () => (d.running ? undefined : `${d.name} exited during start; see ${this.dir}/${d.name}.log:\n${d.output.slice(-2000)}`);
    if (h.role === 'etcd') {
      await until(`etcd ${name}`, 30_000, () => this.etcdHealthy(name), dead);
    } else if (h.role === 'control') {
      await until(`control ${name}`, 60_000, async () => ok(`http://${h.addr}:${API_PORT}/health`), dead);
    } else if (h.role === 'router') {
      await until(`router ${name}`, 60_000, async () => ok(`http://${h.addr}:${ROUTER_ADMIN_PORT}/healthz`), dead);
    } else {
      const c = this.client();
      try {
        await until(`dyno-node ${name}`, 60_000, async () => !!(await c.get(c.keys.node(name))), dead);
      } finally {
        c.close();
      }
    }
  }

  private daemonFor(h: Host): Daemon {
    const dataDir = join(this.dir, h.name);
    mkdirSync(dataDir, { recursive: true, mode: 0o711 });
    chmodSync(dataDir, 0o711);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: dataDir,
      LANG: 'C',
      DYNOMESH_LOG_LEVEL: this.o.logLevel ?? process.env.DYNOMESH_LOG_LEVEL ?? 'info',
      DYNOMESH_LOG_FORMAT: 'json',
      DYNOMESH_ETCD: this.etcdEndpoints.join(','),
      DYNOMESH_ETCD_CA: this.etcdCert(h).ca,
      DYNOMESH_ETCD_CERT: this.etcdCert(h).cert,
      DYNOMESH_ETCD_KEY: this.etcdCert(h).key,
      DYNOMESH_BASE_DOMAIN: this.baseDomain,
    };
    if (h.role !== 'node') env.DYNOMESH_CLUSTER_KEY = join(this.dir, 'cluster.key');
    const extra = this.o.extraArgs?.[h.role] ?? [];
    const node = [process.execPath, BIN];
    let argv: string[];
    if (h.role === 'etcd') {
      const peers = this.ofRole('etcd').map((e) => `${e.name}=http://${e.addr}:2380`).join(',');
      argv = [
        'etcd', '--name', h.name, '--data-dir', join(dataDir, 'etcd'),
        '--listen-client-urls', `https://${h.addr}:2379`, '--advertise-client-urls', `https://${h.addr}:2379`,
        '--cert-file', join(this.pki, 'server.crt'), '--key-file', join(this.pki, 'server.key'),
        '--trusted-ca-file', join(this.pki, 'ca.crt'), '--client-cert-auth',
        '--listen-peer-urls', `http://${h.addr}:2380`, '--initial-advertise-peer-urls', `http://${h.addr}:2380`,
        '--initial-cluster', peers, '--initial-cluster-state', 'new', '--initial-cluster-token', `dmnet-${this.run}`,
        '--heartbeat-interval', '100', '--election-timeout', '1000', ...extra,
      ];
    } else if (h.role === 'control') {
      env.DYNOMESH_BOOTSTRAP_TOKEN = this.adminToken;
      argv = [
        ...node, 'control', '--id', h.name, '--listen', `${h.addr}:${API_PORT}`, '--advertise-url', `http://${h.addr}:${API_PORT}`,
        '--logs-listen', `${h.addr}:5051`, '--data-dir', join(dataDir, 'data'), '--build-dir', join(dataDir, 'builds'),
        '--router-port', String(ROUTER_PORT), '--lease-ttl', String(this.o.controlLeaseTtl ?? 2), ...extra,
      ];
    } else if (h.role === 'router') {
      // Its own log credential, as an operator issues one with `dynomesh log-credential router:<name>`.
      const credential = join(dataDir, 'log-credential');
      writeCredential(credential, deriveCredential(loadClusterKey(join(this.dir, 'cluster.key')), `router:${h.name}`));
      argv = [
        ...node, 'router', '--host', h.addr, '--port', String(ROUTER_PORT), '--admin-host', h.addr, '--admin-port', String(ROUTER_ADMIN_PORT),
        '--log-credential', credential, ...extra,
      ];
    } else {
      argv = [
        ...node, 'dyno-node', '--node-id', h.name, '--node-credential', join(dataDir, 'node.credential'), '--advertise', h.addr, '--data-dir', join(dataDir, 'node'),
        '--memory', '2048', '--memory-enforcement', 'rss', '--lease-ttl', String(this.o.nodeLeaseTtl ?? 3), ...extra,
      ];
    }
    return new Daemon({ name: `${h.name}-${h.role}`, run: this.run, host: h.name, argv, env, logDir: this.dir });
  }

  /** The control host that currently leads (its /health says so), if any. */
  async leader(): Promise<Host | undefined> {
    for (const h of this.ofRole('control')) {
      try {
        const res = await fetch(`http://${h.addr}:${API_PORT}/health`, { signal: AbortSignal.timeout(1000) });
        if (((await res.json()) as { leader?: boolean }).leader) return h;
      } catch {
        /* down */
      }
    }
    return undefined;
  }

  /** A host dies: every process in it is SIGKILLed and its link goes down. */
  killHost(name: string): void {
    killAllIn(nsName(this.run, name));
    setLink(this.run, name, false);
  }

  /** The host comes back: link up, its daemon started again on its old data dir. */
  async reviveHost(name: string): Promise<void> {
    setLink(this.run, name, true);
    const d = this.daemon(name);
    await d.kill();
    await this.startHost(name);
  }

  /** Cuts `host` off from the given role's hosts both ways (packets dropped, as a dead switch port), or heals the cut. */
  partition(host: string, from: Role, on: boolean): void {
    const others = this.ofRole(from);
    blackhole(this.run, host, others.map((h) => h.addr), on);
    for (const o of others) blackhole(this.run, o.name, [this.host(host).addr], on);
  }

  /** The etcd member that leads now (asked of the members still answering, over gRPC: etcd's JSON gateway ignores client certificates). */
  async etcdLeader(): Promise<Host | undefined> {
    const c = clientCert(this.pki, 'root');
    const tls = { ca: readFileSync(c.ca), cert: readFileSync(c.cert), key: readFileSync(c.key) };
    for (const h of this.ofRole('etcd')) {
      const one = new Cluster({ endpoints: [`https://${h.addr}:2379`], callTimeoutMs: 1000, tls });
      try {
        const st = await one.etcd.maintenance.status();
        if (!st.leader || st.leader === '0') continue;
        const { members } = await one.etcd.cluster.memberList({});
        const name = members.find((m) => m.ID === st.leader)?.name;
        return name ? this.host(name) : undefined;
      } catch {
        /* this member is down; ask the next */
      } finally {
        one.close();
      }
    }
    return undefined;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    // Daemons first (they are in their namespaces, which destroyRun empties anyway), then the network.
    await Promise.all([...this.daemons.values()].map((d) => d.kill()));
    this.destroySync();
  }

  private destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.off('exit', this.onExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    for (const d of this.daemons.values()) d.closeLog();
    destroyRun(this.run, !!process.env.KEEP_NETNS_LOGS);
    if (process.env.KEEP_NETNS_LOGS) process.stderr.write(`netns cluster ${this.run}: logs kept in ${this.dir}\n`);
  }
}
