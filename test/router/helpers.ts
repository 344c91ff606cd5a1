/**
 * Test support for the router: real backend processes (fixtures/backend.ts),
 * real router processes (routerCommand() via fixtures/router-main.ts), routing
 * records written to the test's etcd, and a small HTTP client that can set Host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest, Agent, type IncomingHttpHeaders } from 'node:http';
import { createInterface } from 'node:readline';
import { connect as netConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Cluster } from '../../cluster/client.ts';
import type { Affinity } from '../../cluster/records.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** routerCommand() on its own (see fixtures/router-main.ts). */
export const ROUTER_MAIN = 'test/router/fixtures/router-main.ts';
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export interface Backend {
  name: string;
  port: number;
  proc: ChildProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const UNCORKED_UPGRADE_WARNING = 'Warning: uWS.HttpResponse writes must be made from within a corked callback. See documentation for uWS.HttpResponse.cork and consult the user manual.';

export const startBackend = (name: string): Promise<Backend> => startBackendWith(name, []);

/** A backend whose node gets `nodeArgs` before the script (e.g. --max-http-header-size=32768). */
export async function startBackendWith(name: string, nodeArgs: string[]): Promise<Backend> {
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'test/router/fixtures/backend.ts'], {
    cwd: ROOT, env: { ...process.env, NAME: name }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(proc);
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.once('line', (l) => resolve((JSON.parse(l) as { port: number }).port));
    proc.once('exit', (code) => reject(new Error(`backend ${name} exited with ${code}`)));
  });
  return {
    name, port, proc,
    kill: (signal = 'SIGKILL') => new Promise<void>((r) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return r();
      proc.once('exit', () => r());
      proc.kill(signal);
    }).finally(() => children.delete(proc)),
  };
}

export interface RouterProc {
  port: number;
  adminPort: number;
  proc: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: Record<string, unknown>[];
  /** The Heroku-style router lines so far. */
  lines(): string[];
  /** What the router wrote to stderr (uWS prints its warnings there, e.g. writes outside cork). */
  stderr(): string;
  /** stderr without the one warning the router accepts: a WebSocket upgrade with no other WebSocket open on its thread (router/websocket.ts `upgradeClient`). */
  unexpectedStderr(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startRouter(cluster: Cluster, args: string[] = [], nodeArgs: string[] = []): Promise<RouterProc> {
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', ROUTER_MAIN,
    '--etcd', cluster.options.endpoints.join(','), '--etcd-prefix', cluster.keys.prefix,
    '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', ...args], {
    cwd: ROOT, env: { ...process.env, DYNOMESH_LOG_LEVEL: 'info', DYNOMESH_LOG_FORMAT: 'json' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.on('line', (l) => {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(l) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(rec);
      if (rec.msg === 'router-listening') resolve(rec);
    });
    proc.once('exit', (code) => reject(new Error(`router exited with ${code}: ${stderr}`)));
  });
  return {
    port: ready.port as number,
    adminPort: ready.adminPort as number,
    proc,
    logs,
    lines: () => logs.filter((r) => r.msg === 'router-request').map((r) => r.line as string),
    stderr: () => stderr,
    unexpectedStderr: () => stderr.split('\n').filter((l) => l !== UNCORKED_UPGRADE_WARNING).join('\n').trim(),
    stop: (signal = 'SIGTERM') => new Promise<number | null>((r) => {
      if (proc.exitCode !== null) return r(proc.exitCode);
      proc.once('exit', (code) => r(code));
      proc.kill(signal);
    }).finally(() => children.delete(proc)),
  };
}

export async function addApp(cluster: Cluster, app: string, opts: { affinity?: Affinity; balanceFactor?: number; maintenance?: boolean } = {}): Promise<void> {
  await cluster.put(cluster.keys.routingApp(app), {
    app, affinity: opts.affinity ?? 'ip', balanceFactor: opts.balanceFactor ?? 1.25, maintenance: opts.maintenance ?? false,
  });
}

export async function addEndpoint(cluster: Cluster, app: string, dyno: string, port: number): Promise<void> {
  await cluster.put(cluster.keys.endpoint('n1', app, dyno), { app, dyno, node: 'n1', host: '127.0.0.1', port, release: 1 });
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** An HTTP request to the router with a chosen Host header. */
export function get(port: number, host: string, path = '/', opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: Agent | false } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1', port, path, method: opts.method ?? 'GET', agent: opts.agent ?? agent,
      headers: { host, ...opts.headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The backend name that answered (fixtures answer JSON with `name`). */
export const nameOf = (r: Reply): string => (JSON.parse(r.body) as { name: string }).name;

export async function metrics(adminPort: number): Promise<Map<string, number>> {
  const r = await get(adminPort, '127.0.0.1', '/metrics', { agent: false });
  const out = new Map<string, number>();
  for (const l of r.body.split('\n')) {
    if (!l || l.startsWith('#')) continue;
    const i = l.lastIndexOf(' ');
    out.set(l.slice(0, i), Number(l.slice(i + 1)));
  }
  return out;
}

/** Writes raw bytes on a fresh connection; collects what comes back until the server closes or `waitMs` passes. */
export function raw(port: number, data: string | Buffer, waitMs = 2000): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    let reply = '';
    let closed = false;
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ reply, closed });
    }, waitMs);
    s.on('data', (b: Buffer) => (reply += b.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve({ reply, closed });
    });
    s.write(data);
  });
}
