/**
 * Container networking through the standard CNI plugins (Debian's
 * containernetworking-plugins), as podman and Kubernetes drive them: each
 * container gets a network namespace (`ip netns add`, so it outlives no one and
 * can be found after a crash), an address on our bridge from `host-local`, a
 * default route through the bridge (`ipMasq` for internet egress), and, for web
 * dynos, its $PORT published on the host by `portmap`, so routers reach it at the
 * host's address exactly as before. What a container may reach is firewall.ts.
 *
 * The plugins run in list order for ADD (each gets the previous result) and in
 * reverse for DEL, per the CNI spec; DEL succeeds when things are already gone.
 */
import { execFile, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface NetworkOptions {
  /** CNI network name; also names the IPAM state and the iptables comments. */
  name: string;
  /** Linux bridge the containers attach to (<= 15 characters). */
  bridge: string;
  /** IPv4 subnet the containers get addresses from (CIDR). */
  subnet: string;
  /** Where the plugin binaries are. */
  cniPath: string;
  /**
   * host-local's lease directory: the host's, shared by every daemon on the bridge. Per daemon, two
   * of them (or one whose state dir was wiped, beside its old dynos) handed out the same addresses.
   */
  ipamDir: string;
  /** Prefix of our network namespace names in /run/netns. */
  netnsPrefix: string;
}

export interface PortMapping {
  hostPort: number;
  containerPort: number;
}

export interface Attached {
  netns: string;
  address: string;
  gateway: string;
}

interface PluginConf {
  type: string;
  [k: string]: unknown;
}

export class CniError extends Error {
  override name = 'CniError';
}

export class CniNetwork {
  constructor(readonly o: NetworkOptions) {}

  /** The gateway is the subnet's first address (the bridge plugin's default). */
  get gateway(): string {
    const [base] = this.o.subnet.split('/');
    const parts = base!.split('.').map(Number);
    parts[3] = parts[3]! + 1;
    return parts.join('.');
  }

  private plugins(ports: PortMapping[]): PluginConf[] {
    const list: PluginConf[] = [
      {
        type: 'bridge', bridge: this.o.bridge, isGateway: true, ipMasq: true, hairpinMode: false,
        ipam: { type: 'host-local', ranges: [[{ subnet: this.o.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: this.o.ipamDir },
      },
    ];
    if (ports.length) {
      list.push({
        type: 'portmap', capabilities: { portMappings: true }, snat: true,
        runtimeConfig: { portMappings: ports.map((p) => ({ ...p, protocol: 'tcp' })) },
      });
    }
    return list;
  }

  netnsName(id: string): string {
    return `${this.o.netnsPrefix}${id}`;
  }

  /** Creates the namespace and wires it; on any failure, undoes what was done. */
  async attach(id: string, ports: PortMapping[] = []): Promise<Attached> {
    const ns = this.netnsName(id);
    await exec('ip', ['netns', 'add', ns]).catch((err: Error) => {
      throw new CniError(`cannot create network namespace ${ns}: ${err.message.trim()}`);
    });
    const netns = `/run/netns/${ns}`;
    let prev: Record<string, unknown> | undefined;
    try {
      for (const p of this.plugins(ports)) prev = await this.invoke('ADD', id, netns, p, prev);
    } catch (err) {
      await this.detach(id, ports);
      throw err;
    }
    const ip = (prev?.ips as { address: string; gateway?: string }[] | undefined)?.[0];
    // The host end of the veth: isolated bridge ports cannot exchange frames with each other.
    const port = (prev?.interfaces as { name: string; sandbox?: string }[] | undefined)?.find((i) => !i.sandbox && i.name !== this.o.bridge);
    try {
      if (!ip) throw new CniError(`CNI gave ${id} no address`);
      if (!port) throw new CniError(`CNI reported no host interface for ${id}`);
      await exec('ip', ['link', 'set', 'dev', port.name, 'type', 'bridge_slave', 'isolated', 'on']).catch((err: Error) => {
        throw new CniError(`cannot isolate ${port.name} on ${this.o.bridge}: ${err.message.trim()}`);
      });
    } catch (err) {
      await this.detach(id, ports);
      throw err;
    }
    return { netns, address: ip.address.split('/')[0]!, gateway: ip.gateway ?? this.gateway };
  }

  /** Unwires and removes the namespace; safe to repeat and on half-made networks. */
  async detach(id: string, ports: PortMapping[] = []): Promise<void> {
    const netns = `/run/netns/${this.netnsName(id)}`;
    for (const p of this.plugins(ports).reverse()) await this.invoke('DEL', id, netns, p).catch(() => undefined);
    await exec('ip', ['netns', 'delete', this.netnsName(id)]).catch(() => undefined);
  }

  /**
   * Container ids that hold a namespace or an address lease here. The lease directory is the host's
   * (one bridge is one address space, whichever daemons attach to it), so a lease is ours when its
   * owner's namespace is, or when no namespace holds it any more (a dead daemon's, free again).
   */
  async present(): Promise<Set<string>> {
    const ids = new Set<string>();
    const names = await readdir('/run/netns').catch(() => [] as string[]);
    for (const f of names) if (f.startsWith(this.o.netnsPrefix)) ids.add(f.slice(this.o.netnsPrefix.length));
    for (const [, owner] of await this.leases()) {
      if (!ids.has(owner) && !names.some((n) => n.endsWith(`-${owner}`))) ids.add(owner);
    }
    return ids;
  }

  /** The network's address leases: address -> the container id that holds it. */
  async leases(): Promise<Map<string, string>> {
    const dir = `${this.o.ipamDir}/${this.o.name}`;
    const out = new Map<string, string>();
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(f)) continue;
      const owner = (await readFile(`${dir}/${f}`, 'utf8').catch(() => '')).split(/\s/)[0];
      if (owner) out.set(f, owner);
    }
    return out;
  }

  /** After a crash: everything of ours that no live container owns goes. Port mappings are per container id. */
  async sweep(live: Set<string>, portsOf: (id: string) => PortMapping[] = () => []): Promise<string[]> {
    const gone: string[] = [];
    for (const id of await this.present()) {
      if (live.has(id)) continue;
      await this.detach(id, portsOf(id));
      gone.push(id);
    }
    return gone;
  }

  private invoke(cmd: 'ADD' | 'DEL', id: string, netns: string, p: PluginConf, prev?: Record<string, unknown>): Promise<Record<string, unknown>> {
    const conf = { cniVersion: '1.0.0', name: this.o.name, ...p, ...(prev ? { prevResult: prev } : {}) };
    delete (conf as Record<string, unknown>).capabilities;
    return new Promise((resolve, reject) => {
      const child = spawn(`${this.o.cniPath}/${p.type}`, [], {
        env: { CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: this.o.cniPath, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      child.on('error', (e) => reject(new CniError(`CNI plugin ${p.type}: ${e.message}`)));
      child.on('close', (code) => {
        if (code === 0) return resolve(out.trim() ? (JSON.parse(out) as Record<string, unknown>) : {});
        // Plugins report errors as JSON on stdout ({"code":..,"msg":..}).
        let msg = err.trim() || out.trim();
        try {
          const j = JSON.parse(out) as { msg?: string; details?: string };
          msg = [j.msg, j.details].filter(Boolean).join(': ');
        } catch {
          /* not JSON */
        }
        reject(new CniError(`CNI ${cmd} ${p.type} for ${id} failed: ${msg}`));
      });
      child.stdin.end(JSON.stringify(conf));
    });
  }
}
