/**
 * A port nothing listens on now, found by binding port 0 and closing. Another
 * process may take it before the caller binds it; callers that can listen on 0
 * themselves should. Bound exclusively (not shared with cluster-module workers).
 */
import { createServer } from 'node:net';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.once('error', reject);
    s.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
