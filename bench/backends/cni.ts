/**
 * The isolated dyno's network path, for the `router-cni` lane (issue 26): the backend runs
 * in its own network namespace on a CNI bridge, behind the dyno-node's nftables table, with
 * its port published by `portmap` on 127.0.0.1, which is where the router reaches an
 * isolated dyno on a one-host cluster. The pieces are container/'s own (CniNetwork,
 * Firewall), so the bench measures the path dynos take; only runc is left out, since its
 * other namespaces and cgroups cost nothing per packet.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CniNetwork } from '../../container/network.ts';
import { Firewall } from '../../container/firewall.ts';
import { atExit } from '../proc.ts';

const NAME = 'dynomesh-bench';
const BRIDGE = 'dm-bench';
// Clear of every subnet the daemons default to and the tests use (10.227-10.249, 10.231/16...).
const SUBNET = '10.225.254.0/24';
const NETNS_PREFIX = 'dm-bench-';
const CNI_PATH = '/usr/lib/cni';

/** Why the lane cannot run here, or undefined. */
export function cniUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, CNI, nftables), as isolated dynos do';
  for (const p of ['bridge', 'host-local', 'portmap']) if (!existsSync(join(CNI_PATH, p))) return `no CNI plugin ${p}: run scripts/install-deps.sh (containernetworking-plugins)`;
  for (const b of ['ip', 'nft', 'iptables']) if (spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0) return `${b} is not installed: run scripts/install-deps.sh`;
  return undefined;
}

export interface BenchNetwork {
  network: CniNetwork;
  /** Wires a namespace for `id` with `containerPort` published on 127.0.0.1:`hostPort`. */
  attach(id: string, containerPort: number, hostPort: number): Promise<{ netns: string; address: string }>;
  detach(id: string, containerPort: number, hostPort: number): Promise<void>;
}

let shared: Promise<BenchNetwork> | undefined;

/** One bridge and table for the whole bench run, removed at exit; leftovers of a killed run are swept first. */
export function benchNetwork(dir: string): Promise<BenchNetwork> {
  return (shared ??= open(dir));
}

async function open(dir: string): Promise<BenchNetwork> {
  const ipamDir = join(dir, 'cni-ipam');
  mkdirSync(ipamDir, { recursive: true });
  const network = new CniNetwork({ name: NAME, bridge: BRIDGE, subnet: SUBNET, cniPath: CNI_PATH, ipamDir, netnsPrefix: NETNS_PREFIX });
  await network.sweep(new Set());
  // The dyno-node's table, same rules: containers reach nothing on the host but replies.
  const firewall = new Firewall({ table: 'dynomesh_bench', bridge: BRIDGE });
  await firewall.apply([]);
  atExit(() => {
    // Exit hooks are synchronous: drop the namespaces and the table; the next run's sweep takes the rest.
    const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    for (const line of ns.split('\n')) {
      const n = line.split(' ')[0];
      if (n?.startsWith(NETNS_PREFIX)) spawnSync('ip', ['netns', 'delete', n]);
    }
    spawnSync('nft', ['delete', 'table', 'inet', 'dynomesh_bench']);
    // CNI's bridge plugin leaves its bridge behind on DEL; a bench leaves nothing.
    spawnSync('ip', ['link', 'delete', BRIDGE]);
  });
  return {
    network,
    async attach(id, containerPort, hostPort) {
      const a = await network.attach(id, [{ hostPort, containerPort }]);
      return { netns: network.netnsName(id), address: a.address };
    },
    detach: (id, containerPort, hostPort) => network.detach(id, [{ hostPort, containerPort }]),
  };
}
