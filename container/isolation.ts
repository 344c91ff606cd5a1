/**
 * @module container: tenant isolation for a daemon (the dyno-node's dynos, the
 * control's builds). One `Isolation` per daemon owns its OCI runtime, its CNI
 * network and its nftables table; `prepare` turns a request into a bundle whose
 * network is wired, and the returned `Container` is run with `argv` (the runtime
 * in the foreground) and torn down with `destroy`.
 *
 * Everything is named from the container id, so a daemon that was SIGKILLed
 * finds what it left (runtime state, namespaces, leases, bundles) and `sweep`
 * removes whatever no live container owns.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../lib/log.ts';
import { Firewall, localSubnets, overlaps, type AllowRule } from './firewall.ts';
import { CniNetwork, type PortMapping } from './network.ts';
import { detectRuntime, findBinary, OciRuntime, type RuntimeName } from './runtime.ts';
import { ociConfig, type ContainerLimits } from './spec.ts';
import { hostStack, makeRoot, writeEtc, type Stack } from './stack.ts';

export type IsolationMode = 'auto' | RuntimeName | 'off';

export interface IsolationOptions {
  runtime: RuntimeName | 'auto';
  /** Root-owned directory for bundles and runtime state. */
  stateDir: string;
  /** Short name of this daemon's network: `node`, `build`. Names the bridge, table and namespaces. */
  name: string;
  /** Subnet of this daemon's bridge. */
  subnet: string;
  /** Destinations the operator allows (add-on servers are added with `setAllowed`). */
  allow: AllowRule[];
  log: Logger;
  cniPath?: string;
  /** Where address leases are kept (default HOST_IPAM_DIR). */
  ipamDir?: string;
}

/** Address leases of every dynomesh bridge on this host. In /run, as the namespaces are: a reboot ends both. */
export const HOST_IPAM_DIR = '/run/dynomesh/ipam';

export interface ContainerRequest {
  /** Unique, [A-Za-z0-9_.-]; names the bundle, the runtime's container and its namespace. */
  id: string;
  /** The tenant's command; tini runs as PID 1 in front of it (signals and reaping, as `docker --init`). */
  args: string[];
  env: Record<string, string>;
  cwd: string;
  user: { name: string; uid: number; gid: number };
  hostname: string;
  writable: { source: string; destination: string }[];
  readonly?: { source: string; destination: string }[];
  ports?: PortMapping[];
  cgroupsPath: string;
  limits: ContainerLimits;
}

const exec = promisify(execFile);
const shortHash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 4);

/** Names of a daemon's container namespaces in /run/netns start with this (its state dir decides). */
export const netnsPrefix = (name: string, stateDir: string) => `dm-${name}-${shortHash(stateDir)}-`;

/** An address of another interface inside `subnet` (a stale or foreign bridge would take the containers' traffic). */
async function subnetTaken(subnet: string, ours: string): Promise<string | undefined> {
  const { stdout } = await exec('ip', ['-4', '-j', 'addr', 'show']);
  for (const i of JSON.parse(stdout || '[]') as { ifname: string; addr_info?: { local: string; prefixlen: number }[] }[]) {
    if (i.ifname === ours) continue;
    for (const a of i.addr_info ?? []) if (overlaps(`${a.local}/${a.prefixlen}`, subnet)) return `${a.local}/${a.prefixlen} on ${i.ifname}`;
  }
  return undefined;
}

/** Binaries isolation needs on the host; a missing one is named with its Debian package. */
const NEEDS: [string, string][] = [['ip', 'iproute2'], ['nft', 'nftables'], ['tini', 'tini'], ['iptables', 'iptables']];

export class Isolation {
  private extra: AllowRule[] = [];
  private constructor(
    readonly o: IsolationOptions,
    readonly runtime: OciRuntime,
    readonly network: CniNetwork,
    readonly firewall: Firewall,
    readonly stack: Stack,
    readonly tini: string,
  ) {}

  /** Checks the host, installs the firewall and sweeps nothing yet (the caller knows what is live). */
  static async start(o: IsolationOptions): Promise<Isolation> {
    const missing = NEEDS.filter(([bin]) => !findBinary(bin)).map(([, pkg]) => pkg);
    const cniPath = o.cniPath ?? '/usr/lib/cni';
    if (!existsSync(`${cniPath}/bridge`) || !existsSync(`${cniPath}/portmap`) || !existsSync(`${cniPath}/host-local`)) missing.push('containernetworking-plugins');
    const info = await detectRuntime(o.runtime).catch((err: Error) => {
      missing.push('runc');
      return err;
    });
    if (missing.length || info instanceof Error) {
      throw new Error(`tenant isolation needs ${[...new Set(missing)].join(', ')}: run scripts/install-deps.sh (or apt-get install ${[...new Set(missing)].join(' ')}), or start with --isolation off (dynos and builds then share the host)`);
    }
    await mkdir(o.stateDir, { recursive: true, mode: 0o700 });
    // One bridge and table per (name, subnet); namespaces carry the state dir's hash, so two daemons on
    // one host (tests, a control beside a dyno-node) never sweep each other's.
    const net = `${o.name}-${shortHash(o.subnet)}`;
    const bridge = `dm-${net}`.slice(0, 15);
    const network = new CniNetwork({
      name: `dynomesh-${net}`, bridge, subnet: o.subnet, cniPath, ipamDir: o.ipamDir ?? HOST_IPAM_DIR,
      netnsPrefix: netnsPrefix(o.name, o.stateDir),
    });
    const taken = await subnetTaken(o.subnet, bridge);
    if (taken) throw new Error(`the container subnet ${o.subnet} overlaps ${taken}, so replies would go astray; remove that interface or pick another subnet (--dyno-subnet, --build-subnet)`);
    const firewall = new Firewall({ table: `dynomesh_${net.replace(/-/g, '_')}`, bridge, alsoBlocked: await localSubnets() });
    const stack = hostStack();
    if (!stack.resolvers.length) o.log.warn({}, 'containers-have-no-dns: the host lists no name server a container can reach (only loopback ones)');
    const iso = new Isolation(o, new OciRuntime(info, join(o.stateDir, 'runtime')), network, firewall, stack, findBinary('tini')!);
    await iso.applyFirewall();
    o.log.info({ runtime: `${info.name} ${info.version}`, bridge, subnet: o.subnet, resolvers: stack.resolvers, allow: o.allow.map((a) => a.cidr + (a.port ? `:${a.port}` : '')) }, 'isolation-ready');
    return iso;
  }

  /** Destinations allowed besides the operator's (add-on servers); the table is rebuilt when they change. */
  async setAllowed(rules: AllowRule[]): Promise<void> {
    const key = (rs: AllowRule[]) => JSON.stringify(rs.map((r) => [r.cidr, r.port, r.proto]).sort());
    if (key(rules) === key(this.extra)) return;
    this.extra = rules;
    await this.applyFirewall();
  }

  private applyFirewall(): Promise<void> {
    const dns: AllowRule[] = this.stack.resolvers.filter((r) => !r.includes(':')).map((r) => ({ cidr: r, port: 53, why: 'name server' }));
    return this.firewall.apply([...dns, ...this.o.allow, ...this.extra]);
  }

  bundleDir(id: string): string {
    return join(this.o.stateDir, 'bundles', id);
  }

  /** Writes the bundle and wires the network; the container runs once `argv` is spawned. */
  async prepare(r: ContainerRequest): Promise<Container> {
    const bundle = this.bundleDir(r.id);
    await rm(bundle, { recursive: true, force: true });
    await mkdir(bundle, { recursive: true, mode: 0o700 });
    const ports = r.ports ?? [];
    try {
      await makeRoot(join(bundle, 'rootfs'), this.stack);
      const etc = await writeEtc(join(bundle, 'etc'), { user: { ...r.user, home: r.cwd }, hostname: r.hostname, resolvers: this.stack.resolvers });
      const net = await this.network.attach(r.id, ports);
      const config = ociConfig({
        args: [this.tini, '-g', '--', ...r.args], env: r.env, cwd: r.cwd, uid: r.user.uid, gid: r.user.gid, hostname: r.hostname,
        stack: [...this.stack.mounts, ...etc], writable: r.writable, readonly: r.readonly ?? [], netns: net.netns,
        cgroupsPath: r.cgroupsPath, limits: r.limits,
      });
      await writeFile(join(bundle, 'config.json'), JSON.stringify(config), { mode: 0o600 });
      return new Container(this, r.id, bundle, net.address, ports);
    } catch (err) {
      await this.network.detach(r.id, ports);
      await rm(bundle, { recursive: true, force: true });
      throw err;
    }
  }

  /** A container a previous run of this daemon prepared (adopted, or to be destroyed). */
  existing(id: string, ports: PortMapping[] = []): Container {
    return new Container(this, id, this.bundleDir(id), '', ports);
  }

  /**
   * After a crash: runtime containers, namespaces, leases and bundles whose id is
   * not in `live` are removed. Returns the ids it removed.
   */
  async sweep(live: Set<string>, portsOf?: (id: string) => PortMapping[]): Promise<string[]> {
    const removed = new Set<string>();
    for (const c of await this.runtime.list().catch(() => [])) {
      if (live.has(c.id)) continue;
      await this.runtime.delete(c.id);
      removed.add(c.id);
    }
    for (const id of await this.network.sweep(live, portsOf)) removed.add(id);
    for (const id of await readdir(join(this.o.stateDir, 'bundles')).catch(() => [] as string[])) {
      if (live.has(id)) continue;
      await rm(this.bundleDir(id), { recursive: true, force: true });
      removed.add(id);
    }
    return [...removed];
  }
}

export class Container {
  constructor(
    private readonly iso: Isolation,
    readonly id: string,
    readonly bundle: string,
    /** Its address on the bridge. */
    readonly address: string,
    readonly ports: PortMapping[],
  ) {}

  /** The runtime binary and its arguments: spawn them and the container runs in the foreground. */
  get argv(): [string, ...string[]] {
    return [this.iso.runtime.info.path, ...this.iso.runtime.runArgs(this.id, this.bundle)];
  }

  /** Signals every process in the container. */
  kill(signal: NodeJS.Signals): Promise<void> {
    return this.iso.runtime.kill(this.id, signal);
  }

  /** Removes the container (killing what is left), its network and its bundle. Safe to repeat. */
  async destroy(): Promise<void> {
    await this.iso.runtime.delete(this.id);
    await this.iso.network.detach(this.id, this.ports);
    await rm(this.bundle, { recursive: true, force: true });
  }
}
