/**
 * nginx as an anchor: one worker, upstream keep-alive, HTTP/1.1 to the upstream with the
 * Connection header cleared, access log off. Runs as the current user with its own config,
 * pid file and temp dirs under the bench's temp dir, so a system nginx is never touched.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { childPids, startPinned, waitForPort } from '../proc.ts';
import { freePort } from '../../lib/ports.ts';
import { TargetUnavailable, type Target, type TlsFiles } from './target.ts';

export function findBinary(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name} || ls /usr/sbin/${name} /usr/local/sbin/${name} 2>/dev/null | head -1`], { encoding: 'utf8' });
  return r.stdout.trim().split('\n')[0] || undefined;
}

export function nginxConfig(dir: string, port: number, upstreamPort: number, tls?: TlsFiles): string {
  const listen = tls
    ? `listen 127.0.0.1:${port} ssl backlog=4096;
    ssl_certificate ${tls.certFile};
    ssl_certificate_key ${tls.keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;`
    : `listen 127.0.0.1:${port} backlog=4096;`;
  return `# written by dynomesh bench
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 10000; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 100000;
  # keep the 64 KB POST in memory and never spool a 1 MB response to disk: the router streams both.
  client_body_buffer_size 128k;
  proxy_max_temp_file_size 0;
  upstream dyno {
    server 127.0.0.1:${upstreamPort};
    # idle upstream connections kept; above the 1,000-connection scenario so nginx does not churn
    keepalive 1024;
    keepalive_requests 100000;
  }
  server {
    ${listen}
    location / {
      proxy_pass http://dyno;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

export const nginx: Target = {
  name: 'nginx',
  async start(ctx) {
    const bin = findBinary('nginx');
    if (!bin) throw new TargetUnavailable('nginx', 'not installed; run `bash scripts/install-deps.sh --bench` (apt-get install nginx)');
    const dir = join(ctx.dir, 'nginx');
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, nginxConfig(dir, port, ctx.backend.port, ctx.tls));
    const logFile = join(dir, 'stderr.log');
    const p = startPinned(ctx.placement.proxy, bin, ['-c', conf, '-p', dir, '-e', join(dir, 'error.log'), '-g', 'daemon off;'], { logFile });
    await waitForPort(port, 'nginx', { exited: p.exited, logFile });
    // The master only forks; its worker does the proxying, so that is the process to sample.
    const worker = childPids(p.pid)[0] ?? p.pid;
    return { name: 'nginx', port, pids: { nginx: worker }, stop: p.stop };
  },
};
