/**
 * Where a test server must listen for dynos to reach it. As root, dynos run in
 * containers whose 127.0.0.1 is their own (container/), so add-on servers listen
 * on the host's own address, which the node's firewall opens for them; otherwise
 * dynos share the host and loopback is enough.
 */
import { networkInterfaces } from 'node:os';

/** The host's first non-loopback IPv4 address (127.0.0.1 when it has none). */
export function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal && !/^10\.23\d\./.test(a.address)) return a.address;
  }
  return '127.0.0.1';
}

export function addonHost(): string {
  return process.getuid?.() === 0 ? hostAddress() : '127.0.0.1';
}
