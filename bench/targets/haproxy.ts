/**
 * HAProxy as an anchor: one thread, http mode, `http-reuse always`, foreground (-db),
 * its own config under the bench's temp dir, no logging.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPinned, waitForPort } from '../proc.ts';
import { freePort } from '../../lib/ports.ts';
import { findBinary } from './nginx.ts';
import { TargetUnavailable, type Target, type TlsFiles } from './target.ts';

export function haproxyConfig(port: number, upstreamPort: number, tls?: TlsFiles): string {
  return `# written by dynomesh bench
global
  nbthread 1
  maxconn 8000

defaults
  mode http
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s

frontend fe
  bind 127.0.0.1:${port}${tls ? ` ssl crt ${tls.pemFile} ssl-min-ver TLSv1.2` : ''}
  default_backend dyno

backend dyno
  server web1 127.0.0.1:${upstreamPort}
`;
}

export const haproxy: Target = {
  name: 'haproxy',
  async start(ctx) {
    const bin = findBinary('haproxy');
    if (!bin) throw new TargetUnavailable('haproxy', 'not installed; run `bash scripts/install-deps.sh --bench` (apt-get install haproxy)');
    const dir = join(ctx.dir, 'haproxy');
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const conf = join(dir, 'haproxy.cfg');
    writeFileSync(conf, haproxyConfig(port, ctx.backend.port, ctx.tls));
    const logFile = join(dir, 'stderr.log');
    const p = startPinned(ctx.placement.proxy, bin, ['-f', conf, '-db'], { logFile });
    await waitForPort(port, 'haproxy', { exited: p.exited, logFile });
    return { name: 'haproxy', port, pids: { haproxy: p.pid }, stop: p.stop };
  },
};
