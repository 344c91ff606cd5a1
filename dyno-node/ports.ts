/** Free TCP ports for web dynos, held ones for isolated dynos, and the boot check ("does it accept on $PORT?"). */
import { createConnection, createServer, type Server } from 'node:net';

/** Asks the kernel for a free port, skipping ones this agent already handed out (a host dyno binds it itself). */
export async function freePort(taken: Set<number>): Promise<number> {
  const hold = await holdFreePort(taken);
  await hold.release();
  return hold.port;
}

/**
 * A host port kept bound for an isolated web dyno. portmap publishes the container's $PORT with
 * DNAT rules only; nothing on the host binds the port, so the kernel would hand it to the next
 * process that listens on port 0, and that process's local clients would silently reach the dyno
 * (or a refused connect) instead of it. The hold keeps the port ours until the rules are gone, as
 * docker-proxy does. It gets no traffic while the rules exist; anything that slips past is cut.
 */
export interface PortHold {
  readonly port: number;
  release(): Promise<void>;
}

/** A free port, held (see PortHold), skipping ones this agent already handed out. */
export async function holdFreePort(taken: Set<number>): Promise<PortHold> {
  const skipped: PortHold[] = [];
  try {
    for (let i = 0; i < 50; i++) {
      const hold = await holdPort(0);
      if (!taken.has(hold.port)) return hold;
      skipped.push(hold);
    }
  } finally {
    await Promise.all(skipped.map((h) => h.release()));
  }
  throw new Error('no free TCP port found');
}

/** Holds `port` (0: any free one); rejects with EADDRINUSE when another process has it. */
export function holdPort(port: number): Promise<PortHold> {
  return new Promise((resolve, reject) => {
    const s: Server = createServer((c) => c.destroy());
    s.once('error', reject);
    s.listen(port, () => {
      s.off('error', reject);
      s.on('error', () => undefined);
      s.unref();
      const held = (s.address() as { port: number }).port;
      resolve({ port: held, release: () => new Promise<void>((r) => s.close(() => r())) });
    });
  });
}

/** One TCP connect attempt; true when something accepted. */
export function accepts(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}
