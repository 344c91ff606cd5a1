/**
 * The host's own address as seen from its containers and its network: the IPv4
 * address of the interface its default route leaves by, else the first
 * non-loopback one. Not "the first interface": bridges (the dynos' own, docker's)
 * may come before the real one.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

export function hostAddress(routes = readRoutes(), ifaces = networkInterfaces()): string | undefined {
  const v4 = (name: string) => ifaces[name]?.find((a) => a.family === 'IPv4' && !a.internal)?.address;
  for (const line of routes.split('\n').slice(1)) {
    const c = line.trim().split(/\s+/);
    if (c[1] === '00000000' && c[0]) {
      const a = v4(c[0]);
      if (a) return a;
    }
  }
  for (const name of Object.keys(ifaces)) {
    const a = v4(name);
    if (a) return a;
  }
  return undefined;
}

/** Whether `addr` is one of this host's addresses (127.0.0.1 always is). */
export function isLocalAddress(addr: string): boolean {
  return addr === '127.0.0.1' || Object.values(networkInterfaces()).some((l) => l?.some((a) => a.address === addr));
}

function readRoutes(): string {
  try {
    return readFileSync('/proc/net/route', 'utf8');
  } catch {
    return '';
  }
}
