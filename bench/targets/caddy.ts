/**
 * Caddy (Go; what many self-hosted platforms put in front of apps) as a third anchor:
 * one OS thread for Go code (GOMAXPROCS=1, as nginx and HAProxy get one worker), no admin
 * endpoint, no automatic HTTPS, no access log, upstream keep-alive with enough idle
 * connections for the 1,000-connection scenario. Its config, data and autosave stay in
 * the bench's temp dir.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPinned, waitForPort } from '../proc.ts';
import { freePort } from '../../lib/ports.ts';
import { findBinary } from './nginx.ts';
import { BENCH_HOST, TargetUnavailable, type Target, type TlsFiles } from './target.ts';

export function caddyConfig(port: number, upstreamPort: number, tls?: TlsFiles): string {
  return `# written by dynomesh bench
{
  admin off
  auto_https off
  # wrk sends no SNI to an IP address; serve the bench certificate anyway
  default_sni ${BENCH_HOST}
}
${tls ? 'https' : 'http'}://:${port} {
  bind 127.0.0.1
${tls ? `  tls ${tls.certFile} ${tls.keyFile} {\n    protocols tls1.2 tls1.3\n  }\n` : ''}  reverse_proxy 127.0.0.1:${upstreamPort} {
    transport http {
      keepalive 5m
      keepalive_idle_conns 2048
      keepalive_idle_conns_per_host 2048
    }
  }
}
`;
}

export const caddy: Target = {
  name: 'caddy',
  async start(ctx) {
    const bin = findBinary('caddy');
    if (!bin) throw new TargetUnavailable('caddy', 'not installed; run `bash scripts/install-deps.sh --bench` (apt-get install caddy)');
    const dir = join(ctx.dir, 'caddy');
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const conf = join(dir, 'Caddyfile');
    writeFileSync(conf, caddyConfig(port, ctx.backend.port, ctx.tls));
    const logFile = join(dir, 'stderr.log');
    const env = { ...process.env, GOMAXPROCS: '1', HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), XDG_DATA_HOME: join(dir, 'data') };
    const p = startPinned(ctx.placement.proxy, bin, ['run', '--config', conf, '--adapter', 'caddyfile'], { logFile, env });
    await waitForPort(port, 'caddy', { exited: p.exited, logFile });
    return { name: 'caddy', port, pids: { caddy: p.pid }, stop: p.stop };
  },
};
