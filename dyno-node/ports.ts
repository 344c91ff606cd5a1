/** Free TCP ports for web dynos and the boot check ("does it accept on $PORT?"). */
import { createConnection, createServer } from 'node:net';

/** Asks the kernel for a free port, skipping ones this agent already handed out. */
export async function freePort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (!taken.has(port)) return port;
  }
  throw new Error('no free TCP port found');
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
