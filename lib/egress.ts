/**
 * Outbound connections made for a tenant (log drains, `source_blob.url`,
 * buildpack URLs): they must not reach the platform's own network. The name is
 * resolved at connect time, by the `lookup` handed to the socket, and every
 * address it gives is checked, so the address checked is the address connected
 * (a name that resolves to a public address when a drain is added and to
 * 127.0.0.1 later is still refused). IP literals skip `lookup` in Node, so
 * `connectOptions` and `fetch` check them before connecting; `fetch` follows
 * redirects itself and checks every hop.
 *
 * Refused unless the operator allows them (`--outbound-allow cidr[:port]`):
 * loopback, RFC 1918 and other private, shared (CGNAT), link-local (cloud
 * metadata lives at 169.254.169.254), unique-local IPv6, multicast, reserved.
 * Add-on provisioning is operator-configured and does not go through here.
 */
import { lookup as dnsLookup, Resolver } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector, fetch as undiciFetch, type Dispatcher, type RequestInit, type Response } from 'undici';

export interface AllowedDestination {
  /** `10.0.0.0/8`, `fd00::/8` */
  cidr: string;
  /** Only this port, when set. */
  port?: number;
}

export interface EgressOptions {
  /** Private destinations the operator lets tenants reach (an internal syslog, a package mirror). */
  allow?: AllowedDestination[];
  /** Ask these DNS servers (`127.0.0.2:5353`) instead of the system resolver (tests). */
  dnsServers?: string[];
}

export class EgressRefused extends Error {
  override name = 'EgressRefused';
  readonly code = 'DM_EGRESS_REFUSED';
}

type Range = [label: string, cidr: string];

/** What tenants may not reach, most specific first (the first match names the refusal). */
const RANGES: Range[] = [
  ['a cloud metadata address', '169.254.169.254/32'],
  ['a cloud metadata address', '100.100.100.200/32'],
  ['a cloud metadata address', 'fd00:ec2::254/128'],
  ['a loopback address', '127.0.0.0/8'],
  ['a loopback address', '::1/128'],
  ['an unspecified address', '0.0.0.0/8'],
  ['an unspecified address', '::/128'],
  ['a private address', '10.0.0.0/8'],
  ['a private address', '172.16.0.0/12'],
  ['a private address', '192.168.0.0/16'],
  ['a shared (CGNAT) address', '100.64.0.0/10'],
  ['a link-local address', '169.254.0.0/16'],
  ['a link-local address', 'fe80::/10'],
  ['a unique-local address', 'fc00::/7'],
  ['a reserved address', '192.0.0.0/24'],
  ['a reserved address', '198.18.0.0/15'],
  ['a reserved address', '240.0.0.0/4'],
  ['a multicast address', '224.0.0.0/4'],
  ['a multicast address', 'ff00::/8'],
];

function blockOf(cidr: string): BlockList {
  const [net, bits] = cidr.split('/') as [string, string];
  const b = new BlockList();
  b.addSubnet(net, Number(bits), isIP(net) === 6 ? 'ipv6' : 'ipv4');
  return b;
}

const BLOCKS = RANGES.map(([label, cidr]) => ({ label, block: blockOf(cidr) }));

/** `::ffff:127.0.0.1` is 127.0.0.1: check the IPv4 address a mapped one carries. */
function normalize(ip: string): { ip: string; type: 'ipv4' | 'ipv6' } {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (m) return { ip: m[1]!, type: 'ipv4' };
  return { ip, type: isIP(ip) === 6 ? 'ipv6' : 'ipv4' };
}

/** What kind of address tenants may not reach `ip` is, or undefined when it is public. */
export function forbiddenRange(ip: string): string | undefined {
  const n = normalize(ip);
  for (const { label, block } of BLOCKS) if (block.check(n.ip, n.type)) return label;
  return undefined;
}

export class Egress {
  private readonly allow: { block: BlockList; port?: number }[];
  private readonly resolver: Resolver | undefined;

  constructor(private readonly opts: EgressOptions = {}) {
    this.allow = (opts.allow ?? []).map((a) => ({ block: blockOf(a.cidr.includes('/') ? a.cidr : `${a.cidr}/${isIP(a.cidr) === 6 ? 128 : 32}`), ...(a.port ? { port: a.port } : {}) }));
    if (opts.dnsServers?.length) {
      this.resolver = new Resolver({ timeout: 2000, tries: 2 });
      this.resolver.setServers(opts.dnsServers);
    }
  }

  /**
   * Why `ip:port` may not be reached for a tenant, or undefined. With `name`, as
   * "name resolves to ip, a ... address", else "ip is a ... address".
   */
  refusal(ip: string, port?: number, name?: string): string | undefined {
    const range = forbiddenRange(ip);
    if (!range) return undefined;
    const n = normalize(ip);
    if (this.allow.some((a) => a.block.check(n.ip, n.type) && (a.port === undefined || a.port === port))) return undefined;
    return `${name ? `${name} resolves to ${ip},` : `${ip} is`} ${range}, which tenants may not reach (an operator can allow it with --outbound-allow)`;
  }

  /** Throws EgressRefused when `host` is an IP literal that may not be reached (lookup does the rest). */
  checkLiteral(host: string, port?: number, what = 'destination'): void {
    const h = host.replace(/^\[|\]$/g, '');
    if (!isIP(h)) return;
    const why = this.refusal(h, port);
    if (why) throw new EgressRefused(`${what} refused: ${why}`);
  }

  /**
   * Resolves `host` now and checks every address, for a clear answer when a drain
   * is added. A name that does not resolve (yet) passes: the connect-time lookup
   * checks whatever it resolves to later.
   */
  async check(host: string, port?: number, what = 'destination'): Promise<void> {
    const h = host.replace(/^\[|\]$/g, '');
    if (isIP(h)) return this.checkLiteral(h, port, what);
    const addrs = await this.resolve(h).catch(() => []);
    for (const a of addrs) {
      const why = this.refusal(a.address, port, h);
      if (why) throw new EgressRefused(`${what} refused: ${why}`);
    }
  }

  private resolve(host: string): Promise<{ address: string; family: number }[]> {
    const r = this.resolver;
    if (!r) {
      return new Promise((resolve, reject) => dnsLookup(host, { all: true }, (err, addrs) => (err ? reject(err) : resolve(addrs))));
    }
    const one = (fn: 'resolve4' | 'resolve6', family: number) => new Promise<{ address: string; family: number }[]>((resolve) => {
      r[fn](host, (err, addrs) => resolve(err ? [] : addrs.map((address) => ({ address, family }))));
    });
    return Promise.all([one('resolve4', 4), one('resolve6', 6)]).then(([a, b]) => {
      const all = [...a, ...b];
      if (!all.length) throw Object.assign(new Error('no address'), { code: 'ENOTFOUND' });
      return all;
    });
  }

  /**
   * A `lookup` for net.connect, tls.connect and undici: resolves, and fails the
   * connect if any address may not be reached (a name with one private address
   * among public ones is refused whole: which one is used is not ours to pick).
   */
  lookupFor(port: number | undefined): LookupFunction {
    return (hostname, options, callback) => this.lookup(hostname, options, callback, port);
  }

  private lookup(hostname: string, options: object, callback: Parameters<LookupFunction>[2], port: number | undefined): void {
    this.resolve(hostname).then((addrs) => {
      const family = (options as { family?: number }).family;
      const usable = family === 4 || family === 6 ? addrs.filter((a) => a.family === family) : addrs;
      for (const a of usable) {
        const why = this.refusal(a.address, port, hostname);
        if (why) return callback(new EgressRefused(why), '', 0);
      }
      if (!usable.length) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: typeof usable) => void)(null, usable);
      else callback(null, usable[0]!.address, usable[0]!.family);
    }, (err: NodeJS.ErrnoException) => callback(err, '', 0));
  }

  /** Socket options for net/tls.connect to `host:port` with the guard (throws for a refused literal). */
  connectOptions(host: string, port: number, what?: string): { host: string; port: number; lookup: LookupFunction } {
    this.checkLiteral(host, port, what);
    return { host: host.replace(/^\[|\]$/g, ''), port, lookup: this.lookupFor(port) };
  }

  private agent: Agent | undefined;

  /** An undici dispatcher whose every connection goes through the guard. */
  dispatcher(): Dispatcher {
    return (this.agent ??= new Agent({
      connect: (opts, cb) => {
        const port = Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80);
        buildConnector({ lookup: this.lookupFor(port) } as buildConnector.BuildOptions)(opts, cb);
      },
    }));
  }

  /**
   * fetch() for a tenant's URL: redirects followed by hand (at most `maxRedirects`),
   * each hop checked; only http and https.
   */
  async fetch(url: string, init: RequestInit = {}, what = 'URL', maxRedirects = 5): Promise<Response> {
    let u = new URL(url);
    for (let hop = 0; ; hop++) {
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new EgressRefused(`${what} refused: ${u.protocol} is not http or https`);
      this.checkLiteral(u.hostname, Number(u.port || (u.protocol === 'https:' ? 443 : 80)), what);
      const res = await undiciFetch(u, { ...init, redirect: 'manual', dispatcher: this.dispatcher() }).catch((err: Error & { cause?: Error }) => {
        throw err.cause instanceof EgressRefused ? new EgressRefused(`${what} refused: ${err.cause.message}`) : err;
      });
      const loc = res.headers.get('location');
      if (res.status < 300 || res.status > 399 || !loc) return res;
      await res.body?.cancel();
      if (hop >= maxRedirects) throw new EgressRefused(`${what} refused: more than ${maxRedirects} redirects`);
      u = new URL(loc, u);
    }
  }

  async close(): Promise<void> {
    await this.agent?.close();
  }
}

let strict: Egress | undefined;

/** The guard with no allowlist, for callers not given the control's own (tools, tests). */
export function strictEgress(): Egress {
  return (strict ??= new Egress());
}
