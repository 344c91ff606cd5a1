/**
 * The one-host cluster of `dynomesh up`: etcd, then control (which creates the
 * cluster key and, on the first start, the admin token), then a dyno-node and a
 * router, each waited for before the next starts. Stopping goes the other way
 * round so every daemon can still reach etcd while it leaves: the router drains,
 * control resigns, the dyno-node stops its dynos, and etcd goes last.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { etcdHealthy } from '../../cluster/etcd-server.ts';
import { freePort } from '../../lib/ports.ts';
import { CONTROL_USER, nodeUser, ROUTER_USER, setupEtcdAuth } from '../../cluster/etcd-auth.ts';
import { clientCert, ensurePki } from '../../cluster/pki.ts';
import { Cluster, type ClusterOptions } from '../../cluster/client.ts';
import { enrolNode, writeNodeCredential } from '../../cluster/node-credential.ts';
import { loadClusterKey } from '../../cluster/sealed.ts';
import { deriveCredential, writeCredential } from '../../logplex/credential.ts';
import { deriveCertsKey, writeCertsKey } from '../../cluster/certs-key.ts';
import { ensureDevCa } from '../../router/tls/dev-ca.ts';
import { CliError } from '../errors.ts';
import { AddonServers } from './addons.ts';
import { Child } from './child.ts';
import { readState, writeState } from './state.ts';

export interface LocalClusterOptions {
  home: string;
  /** An existing etcd (DYNOMESH_ETCD); otherwise one is started under `<home>/etcd`. */
  etcd?: string;
  prefix: string;
  apiPort: number;
  routerPort: number;
  routerHost: string;
  /** The router's HTTPS port (certificates by SNI: certs:add, ACM); default DYNOMESH_ROUTER_HTTPS_PORT, else 5443. */
  httpsPort?: number;
  baseDomain: string;
  /** Extra environment for every daemon (tests shorten timeouts this way). */
  env?: NodeJS.ProcessEnv;
  onLine: (name: string, line: string) => void;
  /** A daemon died on its own: the cluster is no longer whole. */
  onCrash: (name: string, code: number | null, signal: NodeJS.Signals | null) => void;
  /** False (`--no-addons`): no PostgreSQL and Redis of our own (cli/up/addons.ts). */
  addons?: boolean;
  /** A one-line notice for the person who ran `up`. */
  onNotice?: (line: string) => void;
}

/** The message of a daemon's last line, whether pino JSON or plain text. */
function lastWords(line: string): string {
  try {
    const rec = JSON.parse(line) as { msg?: string; err?: { message?: string } | string };
    const err = typeof rec.err === 'string' ? rec.err : rec.err?.message;
    return [rec.msg, err].filter(Boolean).join(': ');
  } catch {
    return line.trim();
  }
}

export function httpsPortOf(o: LocalClusterOptions): number {
  return o.httpsPort ?? (Number(process.env.DYNOMESH_ROUTER_HTTPS_PORT) || 5443);
}

/** Fails fast, before anything starts, when a port `up` needs is taken. */
export async function checkPortFree(host: string, port: number, flag: string): Promise<void> {
  const { createServer } = await import('node:net');
  await new Promise<void>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      reject(new CliError(err.code === 'EADDRINUSE'
        ? `port ${port} on ${host} is in use (another dynomesh up, or another server); pick another with ${flag}`
        : `cannot listen on ${host}:${port} (${err.code}); pick another with ${flag}`));
    });
    srv.listen(port, host, () => srv.close(() => resolve()));
  });
}

const ADMIN_LINE = /^Admin API token \(shown once; store it now\): (\S+)/;

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, dead: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const died = dead();
    if (died) throw new CliError(died);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new CliError(`${what} did not come up within ${Math.round(timeoutMs / 1000)}s`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

export class LocalCluster {
  readonly children: Child[] = [];
  adminToken: string | undefined;
  etcdEndpoint = '';
  apiUrl = '';
  routerUrl = '';
  /** https://<base-domain>:<https port> */
  routerHttpsUrl = '';
  /** The development CA the router's certificates are signed by: `curl --cacert` it. */
  devCaFile = '';
  routerAdminPort = 0;
  addons: AddonServers | undefined;
  /** The certificates of the etcd `up` runs (etcd takes no client without one); undefined with DYNOMESH_ETCD. */
  pki: string | undefined;
  private readonly logs: string;

  constructor(readonly o: LocalClusterOptions) {
    this.logs = join(o.home, 'logs');
  }

  get httpsPort(): number {
    return httpsPortOf(this.o);
  }

  private spawn(name: string, args: string[], extraEnv: Record<string, string> = {}): Child {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DYNOMESH_ETCD: this.etcdEndpoint,
      DYNOMESH_PREFIX: this.o.prefix,
      DYNOMESH_LOG_FORMAT: 'json',
      ...this.o.env,
      ...extraEnv,
    };
    const child = new Child({
      name, args, env, logFile: join(this.logs, `${name}.log`),
      onLine: (n, line) => {
        const m = ADMIN_LINE.exec(line);
        if (m) this.adminToken = m[1];
        else this.o.onLine(n, line);
      },
      onExit: (n, code, signal) => this.o.onCrash(n, code, signal),
    });
    child.start();
    this.children.push(child);
    this.record();
    return child;
  }

  /** Flags giving a daemon its own etcd certificate (its etcd user and role: cluster/etcd-auth.ts). */
  private etcdFlags(user: string): string[] {
    if (!this.pki) return [];
    const c = clientCert(this.pki, user);
    return ['--etcd-ca', c.ca, '--etcd-cert', c.cert, '--etcd-key', c.key];
  }

  /** How `up` itself reaches its etcd (as control: it may mint an admin token). */
  clusterOptions(prefix: string): ClusterOptions {
    const c = this.pki ? clientCert(this.pki, CONTROL_USER) : undefined;
    return {
      endpoints: [this.etcdEndpoint], prefix, callTimeoutMs: 5000,
      ...(c ? { tls: { ca: readFileSync(c.ca), cert: readFileSync(c.cert), key: readFileSync(c.key) } } : {}),
    };
  }

  private record(): void {
    const s = readState(this.o.home);
    writeState(this.o.home, { ...s, pid: process.pid, startedAt: Date.now(), children: this.children.map((c) => ({ name: c.opts.name, pid: c.pid! })) });
  }

  private static deadCheck(child: Child, name: string, log: string): () => string | undefined {
    return () => {
      if (child.running) return undefined;
      const why = lastWords(child.lastLine);
      return `${name} exited during start${why ? ` (${why})` : ''}; see ${log}`;
    };
  }

  async start(): Promise<void> {
    const o = this.o;
    mkdirSync(this.logs, { recursive: true, mode: 0o700 });
    await checkPortFree('127.0.0.1', o.apiPort, '--api-port');
    await checkPortFree(o.routerHost, o.routerPort, '--port');
    await checkPortFree(o.routerHost, httpsPortOf(o), '--https-port');
    const logOf = (n: string) => join(this.logs, `${n}.log`);

    // PostgreSQL and Redis start while etcd does (they need nothing of it); control gets their admin URLs.
    this.addons = new AddonServers({
      home: o.home, enabled: o.addons !== false, env: { ...process.env, ...o.env },
      spawn: (n, a) => this.spawn(n, a), notice: o.onNotice ?? (() => undefined),
    });
    const addonsReady = this.addons.start();
    addonsReady.catch(() => undefined); // awaited below; etcd may fail first

    if (o.etcd) this.etcdEndpoint = o.etcd;
    else {
      const state = readState(o.home);
      const reuse = state.etcd && existsSync(join(o.home, 'etcd', 'member-data')) ? state.etcd : undefined;
      const clientPort = reuse ? reuse.clientPort : await freePort();
      const peerPort = reuse ? reuse.peerPort : await freePort();
      writeState(o.home, { ...readState(o.home), etcd: { clientPort, peerPort } });
      // etcd takes only client certificates: one per daemon, each its own etcd user and role.
      const pki = (this.pki = join(o.home, 'pki'));
      ensurePki(pki, ['127.0.0.1', 'localhost'], ['root', CONTROL_USER, ROUTER_USER, nodeUser('local')]);
      this.etcdEndpoint = `https://127.0.0.1:${clientPort}`;
      const etcd = this.spawn('etcd', ['etcd', '--data-dir', join(o.home, 'etcd'), '--client-port', String(clientPort), '--peer-port', String(peerPort), '--pki', pki]);
      await until('etcd', 30_000, () => etcdHealthy(this.etcdEndpoint, clientCert(pki, 'root')),
        LocalCluster.deadCheck(etcd, 'etcd', `${logOf('etcd')} and ${join(o.home, 'etcd', 'etcd.log')}`));
      await setupEtcdAuth(this.etcdEndpoint, clientCert(pki, 'root'), o.prefix, ['local']);
    }

    const addonEnv = await addonsReady;

    this.apiUrl = `http://127.0.0.1:${o.apiPort}`;
    const control = this.spawn('control', [
      'control', '--listen', `127.0.0.1:${o.apiPort}`, '--data-dir', join(o.home, 'control'), '--cluster-key', join(o.home, 'cluster.key'),
      '--base-domain', o.baseDomain, '--router-port', String(o.routerPort), '--id', 'local', ...this.etcdFlags(CONTROL_USER),
      // ACM needs a public domain whose port 80 reaches this router: off unless DYNOMESH_ACME_DIRECTORY says where
      ...(process.env.DYNOMESH_ACME_DIRECTORY ? [] : ['--acme-directory', 'off']),
    ], addonEnv);
    await until('control', 30_000, async () => (await fetch(`${this.apiUrl}/health`, { signal: AbortSignal.timeout(1000) })).status === 200,
      LocalCluster.deadCheck(control, 'control', logOf('control')));

    // As root the node keeps dynos under /var/lib (dyno users must traverse it; a home is 0700).
    const nodeDir = process.env.DYNOMESH_NODE_DIR || process.getuid?.() === 0 ? [] : ['--data-dir', join(o.home, 'node')];
    // The node gets its own credential, enrolled afresh each start; it never holds the cluster key.
    const nodeCredential = join(o.home, 'node.credential');
    const etcd = new Cluster(this.clusterOptions(o.prefix));
    try {
      writeNodeCredential(nodeCredential, await enrolNode(etcd, loadClusterKey(join(o.home, 'cluster.key')), 'local', 'dynomesh up'));
    } finally {
      etcd.close();
    }
    const node = this.spawn('dyno-node', ['dyno-node', '--node-credential', nodeCredential, '--node-id', 'local', ...nodeDir, ...this.etcdFlags(nodeUser('local'))]);
    let nodeUp = false;
    const watchNode = (n: string, line: string) => {
      if (n === 'dyno-node' && line.includes('"dyno-node-started"')) nodeUp = true;
    };
    const prev = this.o.onLine;
    this.o.onLine = (n, line) => {
      watchNode(n, line);
      prev(n, line);
    };
    await until('dyno-node', 30_000, async () => nodeUp, LocalCluster.deadCheck(node, 'dyno-node', logOf('dyno-node')));

    this.routerAdminPort = await freePort();
    // The router's own log credential (control created the cluster key); it never holds the key itself.
    const routerCredential = join(o.home, 'router.log-credential');
    writeCredential(routerCredential, deriveCredential(loadClusterKey(join(o.home, 'cluster.key')), 'router:local'));
    // Its certificates key opens the TLS keys of certs:add and ACM (derived from the cluster key, which it never holds).
    const certsKey = join(o.home, 'router.certs-key');
    writeCertsKey(certsKey, deriveCertsKey(loadClusterKey(join(o.home, 'cluster.key'))));
    const httpsPort = httpsPortOf(o);
    // A development CA mints a certificate for every <app>.localhost (clients refuse a *.localhost wildcard).
    this.devCaFile = await ensureDevCa(join(o.home, 'tls'));
    const router = this.spawn('router', [
      'router', '--host', o.routerHost, '--port', String(o.routerPort), '--admin-port', String(this.routerAdminPort), '--base-domain', o.baseDomain, ...this.etcdFlags(ROUTER_USER),
      '--log-credential', routerCredential, '--https-port', String(httpsPort), '--certs-key', certsKey, '--tls-dev-ca', join(o.home, 'tls'),
    ]);
    await until('router', 30_000, async () => (await fetch(`http://127.0.0.1:${this.routerAdminPort}/healthz`, { signal: AbortSignal.timeout(1000) })).ok,
      LocalCluster.deadCheck(router, 'router', logOf('router')));
    this.routerUrl = `http://${o.baseDomain}:${o.routerPort}`;
    this.routerHttpsUrl = `https://${o.baseDomain}:${httpsPort}`;
    writeState(o.home, { ...readState(o.home), apiUrl: this.apiUrl, routerUrl: this.routerUrl });
  }

  /** Reverse start order; each daemon gets time for its own graceful stop. */
  async stop(): Promise<void> {
    const grace: Record<string, number> = { router: 35_000, control: 15_000, 'dyno-node': 45_000, postgresql: 30_000, redis: 30_000, etcd: 10_000 };
    const order = ['router', 'control', 'dyno-node', 'postgresql', 'redis', 'etcd'];
    const rank = (c: Child) => order.indexOf(c.opts.name);
    for (const c of [...this.children].sort((a, b) => rank(a) - rank(b))) await c.stop(grace[c.opts.name] ?? 15_000);
  }

  /** Second Ctrl-C: no more waiting. */
  kill(): void {
    for (const c of this.children) c.kill();
  }
}
