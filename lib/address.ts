/**
 * The address other hosts reach a daemon on when it listens on a wildcard
 * (0.0.0.0 / ::): this host's first non-loopback IPv4 address, never a silent
 * 127.0.0.1 that only works on one machine (loopback only when nothing else exists).
 */
import { networkInterfaces } from 'node:os';

export function advertisableHost(bound: string): string {
  if (bound !== '0.0.0.0' && bound !== '::') return bound;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
