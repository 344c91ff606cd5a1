/**
 * The address a request came from, for the failed-auth limiter and logs. Behind the
 * routers (`--api-domain`), every request arrives from a router: the client is the last
 * X-Forwarded-For entry the router appended. That header is trusted only from the
 * proxies named in DYNOMESH_TRUSTED_PROXIES (comma-separated addresses or CIDRs, e.g.
 * `10.0.0.0/24,127.0.0.1`); from anyone else it is ignored, so a client cannot pick
 * the address it is limited as.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { IncomingMessage } from 'node:http';

let cached: { spec: string; list: BlockList | null } | undefined;

function trusted(spec = process.env.DYNOMESH_TRUSTED_PROXIES ?? ''): BlockList | null {
  if (cached?.spec === spec) return cached.list;
  let list: BlockList | null = null;
  for (const raw of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [addr, bits] = raw.split('/');
    const type = isIPv4(addr!) ? 'ipv4' : isIPv6(addr!) ? 'ipv6' : null;
    if (!type) continue;
    list ??= new BlockList();
    if (bits === undefined) list.addAddress(addr!, type);
    else list.addSubnet(addr!, Number(bits), type);
  }
  cached = { spec, list };
  return list;
}

const plain = (a: string): string => (a.startsWith('::ffff:') && isIPv4(a.slice(7)) ? a.slice(7) : a);

export function clientAddress(req: Pick<IncomingMessage, 'socket' | 'headers'>): string {
  const peer = plain(req.socket.remoteAddress ?? '');
  const list = trusted();
  if (!list || !peer) return peer;
  const type = isIPv4(peer) ? 'ipv4' : 'ipv6';
  if (!list.check(peer, type)) return peer;
  const xff = req.headers['x-forwarded-for'];
  const last = (Array.isArray(xff) ? xff.join(',') : xff ?? '').split(',').map((s) => s.trim()).filter(Boolean).pop();
  return last && (isIPv4(last) || isIPv6(last)) ? last : peer;
}
