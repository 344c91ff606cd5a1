/**
 * Where a test server must listen for dynos to reach it. As root, dynos run in
 * containers whose 127.0.0.1 is their own (container/), so add-on servers listen
 * on the host's own address, which the node's firewall opens for them; otherwise
 * dynos share the host and loopback is enough.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostAddress as defaultHostAddress } from '../../lib/host-address.ts';

/** The host's address (lib/host-address.ts, as `dynomesh up` picks it for its add-on servers), 127.0.0.1 when it has none. */
export function hostAddress(): string {
  return defaultHostAddress() ?? '127.0.0.1';
}

export function addonHost(): string {
  return process.getuid?.() === 0 ? hostAddress() : '127.0.0.1';
}

/** TCP ports the host listens on, from its own /proc (etcd, the API, the router, the log port, sshd...). */
export function hostListeningPorts(): number[] {
  const ports = new Set<number>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = existsSync(f) ? readFileSync(f, 'utf8') : '';
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A') ports.add(parseInt(cols[1]!.split(':').pop()!, 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}
