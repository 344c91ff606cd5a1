/**
 * What a tenant container may reach, as one nftables table per daemon (the
 * dyno-node's, the build's), rebuilt whole and atomically at start and whenever
 * the allowlist changes, so a crash never leaves half a rule set.
 *
 * From the containers' bridge:
 *   - replies to connections made to them (routers through portmap) pass;
 *   - the host itself is unreachable (etcd, the control, the log port, ssh...);
 *   - other containers are unreachable: through a port another container
 *     published on the host (forward, below), and directly on the bridge because
 *     network.ts marks every container's bridge port `isolated`;
 *   - loopback, private, shared, link-local (cloud metadata), multicast and
 *     reserved ranges are refused;
 *   - except the allowlist: the host's DNS resolvers, add-on servers, and what the
 *     operator lists (`--dyno-allow 10.0.5.0/24:5432`);
 *   - everything else (the internet) passes and is masqueraded by CNI.
 */
import { execFile, spawn } from 'node:child_process';

export interface AllowRule {
  /** An address or CIDR (IPv4). */
  cidr: string;
  /** A port, or undefined for every port. */
  port?: number;
  proto?: 'tcp' | 'udp';
  /** Why it is allowed (shown in the rule's comment). */
  why: string;
}

/**
 * Destinations a tenant never reaches unless allowed: this network, private (RFC 1918),
 * shared (CGNAT), loopback, link-local (cloud metadata at 169.254.169.254), IETF
 * protocol assignments, multicast and reserved. The host's own subnets are added by
 * the caller (`localSubnets`), since a cluster's hosts may sit on any range.
 */
export const BLOCKED_V4 = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
  '192.168.0.0/16', '224.0.0.0/4', '240.0.0.0/4',
];

/** The IPv4 subnets this host is directly attached to (its LANs: where etcd, controls and other hosts live). */
export async function localSubnets(): Promise<string[]> {
  const out = await new Promise<string>((resolve) => execFile('ip', ['-4', '-j', 'route', 'show', 'scope', 'link'], (err, stdout) => resolve(err ? '[]' : stdout)));
  const rows = JSON.parse(out || '[]') as { dst: string; dev: string }[];
  return rows.map((r) => r.dst).filter((d) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(d));
}

export interface FirewallOptions {
  /** nftables table name (one per daemon). */
  table: string;
  bridge: string;
  /** Blocked on top of BLOCKED_V4: the host's own subnets. */
  alsoBlocked?: string[];
}

const toInt = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);

/** Whether two IPv4 CIDRs share an address. */
export function overlaps(a: string, b: string): boolean {
  const ra = cidrRange(a);
  const rb = cidrRange(b);
  return ra[0] <= rb[1] && rb[0] <= ra[1];
}

function cidrRange(c: string): readonly [number, number] {
  const [a, bits = '32'] = c.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(toInt(a!) / size) * size;
  return [start, start + size - 1] as const;
}

/** CIDRs with those inside another left out (nft refuses overlapping intervals in one set). */
export function disjoint(cidrs: string[]): string[] {
  const rs = [...new Set(cidrs)].map((c) => ({ c, r: cidrRange(c) }));
  return rs.filter(({ c, r }) => !rs.some((o) => o.c !== c && o.r[0] <= r[0] && o.r[1] >= r[1] && (o.r[0] !== r[0] || o.r[1] !== r[1] || o.c < c))).map((x) => x.c);
}

/**
 * Refused at once ("administratively prohibited": EHOSTUNREACH to the caller) rather than
 * dropped, so a blocked `git clone` or database connect fails in a millisecond with a clear
 * error instead of hanging for minutes; what is blocked is no secret.
 */
const REJECT = 'reject with icmpx type admin-prohibited';

const quote = (s: string) => `"${s.replace(/["\\]/g, '')}"`;

/** Parses `CIDR[:port][/proto]` as the `--dyno-allow` flag takes it. */
export function parseAllow(v: string): AllowRule {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(\/\d{1,2})?(?::(\d{1,5}))?(?:\/(tcp|udp))?$/.exec(v.trim());
  if (!m || m[1]!.split('.').some((o) => Number(o) > 255) || (m[2] && Number(m[2].slice(1)) > 32) || (m[3] && (Number(m[3]) < 1 || Number(m[3]) > 65535))) {
    throw new Error(`"${v}" is not an allow rule; write an IPv4 address or CIDR with an optional port, e.g. 10.0.5.0/24:5432`);
  }
  return { cidr: m[1]! + (m[2] ?? ''), ...(m[3] ? { port: Number(m[3]) } : {}), ...(m[4] ? { proto: m[4] as 'tcp' | 'udp' } : {}), why: 'operator allowlist' };
}

function allowLines(rules: AllowRule[], iif: string): string[] {
  const out: string[] = [];
  for (const r of rules) {
    const protos = r.proto ? [r.proto] : r.port ? ['tcp', 'udp'] : [undefined];
    for (const p of protos) {
      const port = p && r.port ? `${p} dport ${r.port} ` : p ? `meta l4proto ${p} ` : '';
      out.push(`    iifname ${iif} ip daddr ${r.cidr} ${port}accept comment ${quote(r.why)}`);
    }
  }
  return out;
}

/** The whole table as an `nft -f` script: delete and re-create in one transaction. */
export function ruleset(o: FirewallOptions, allow: AllowRule[]): string {
  const b = quote(o.bridge);
  const allowed = allowLines(allow, b);
  return [
    `table inet ${o.table}`,
    `delete table inet ${o.table}`,
    `table inet ${o.table} {`,
    '  chain input {',
    '    type filter hook input priority -10; policy accept;',
    `    iifname ${b} ct state established,related accept`,
    ...allowed,
    `    iifname ${b} counter ${REJECT} comment "containers never reach the host"`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority -10; policy accept;',
    `    iifname ${b} ct state established,related accept`,
    `    iifname ${b} oifname ${b} counter ${REJECT} comment "no container reaches another"`,
    ...allowed,
    `    iifname ${b} ip daddr { ${disjoint([...BLOCKED_V4, ...(o.alsoBlocked ?? [])]).join(', ')} } counter ${REJECT} comment "private, loopback, link-local, metadata"`,
    `    iifname ${b} meta nfproto ipv6 counter ${REJECT}`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export class Firewall {
  constructor(readonly o: FirewallOptions) {}

  /** Installs the rules (idempotent: the same call after a crash gives the same table). */
  apply(allow: AllowRule[]): Promise<void> {
    return nft(['-f', '-'], ruleset(this.o, allow));
  }

  async remove(): Promise<void> {
    await nft(['-f', '-'], `table inet ${this.o.table}\ndelete table inet ${this.o.table}\n`).catch(() => undefined);
  }
}

function nft(args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('nft', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', (e) => reject(new Error(`nft: ${e.message}; install nftables`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`nft failed: ${err.trim().split('\n').slice(0, 3).join(' ')}`))));
    child.stdin.end(input);
  });
}
