/**
 * A single-member etcd started by dynomesh itself: throwaway ones for tests, and
 * the one `dynomesh up` runs when no etcd endpoints are configured.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, openSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../lib/ports.ts';
import { ClusterError } from './errors.ts';
import { clientCert, type ClientCert } from './pki.ts';

export const ETCD_MISSING =
  'etcd is not installed. On Debian/Ubuntu run `sudo apt-get install -y etcd-server` (or `bash scripts/install-deps.sh`), or point DYNOMESH_ETCD at an existing etcd cluster.';

export function etcdBinary(): string {
  const found = spawnSync('sh', ['-c', 'command -v etcd || ls /usr/bin/etcd /usr/local/bin/etcd 2>/dev/null | head -1'], { encoding: 'utf8' });
  const path = found.stdout.trim().split('\n')[0];
  if (!path) throw new ClusterError('DM_ETCD_MISSING', ETCD_MISSING);
  return path;
}

export interface EtcdServerOptions {
  dataDir?: string;
  host?: string;
  clientPort?: number;
  peerPort?: number;
  /** Where etcd's own output goes; defaults to `<dataDir>/etcd.log`. */
  logFile?: string;
  /**
   * A pki.ts directory: serve clients over TLS and take only clients with a certificate
   * of its CA (--client-cert-auth). Health is checked with its `root` certificate.
   */
  pkiDir?: string;
}

/** Whether etcd at `endpoint` answers /health (over TLS with `cert` when given). */
export async function etcdHealthy(endpoint: string, cert?: ClientCert, timeoutMs = 1000): Promise<boolean> {
  try {
    if (!endpoint.startsWith('https:') || !cert) {
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(timeoutMs) });
      return ((await res.json()) as { health?: string }).health === 'true';
    }
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsGet(`${endpoint}/health`, { ca: readFileSync(cert.ca), cert: readFileSync(cert.cert), key: readFileSync(cert.key), timeout: timeoutMs }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
    });
    return (JSON.parse(body) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

export class EtcdServer {
  private child: ChildProcess | undefined;
  private ownsDataDir: boolean;
  readonly dataDir: string;
  readonly host: string;
  clientPort = 0;
  peerPort = 0;

  constructor(private readonly options: EtcdServerOptions = {}) {
    this.ownsDataDir = !options.dataDir;
    this.dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'dynomesh-etcd-'));
    this.host = options.host ?? '127.0.0.1';
  }

  get endpoint(): string {
    return `${this.options.pkiDir ? 'https' : 'http'}://${this.host}:${this.clientPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<this> {
    const bin = etcdBinary();
    this.clientPort ||= this.options.clientPort ?? (await freePort(this.host));
    this.peerPort ||= this.options.peerPort ?? (await freePort(this.host));
    mkdirSync(this.dataDir, { recursive: true });
    const peer = `http://${this.host}:${this.peerPort}`;
    const out = openSync(this.options.logFile ?? join(this.dataDir, 'etcd.log'), 'a');
    const child = spawn(
      bin,
      [
        '--name', 'dynomesh',
        '--data-dir', join(this.dataDir, 'member-data'),
        '--listen-client-urls', this.endpoint,
        '--advertise-client-urls', this.endpoint,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `dynomesh=${peer}`,
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        ...(this.options.pkiDir ? [
          '--cert-file', join(this.options.pkiDir, 'server.crt'), '--key-file', join(this.options.pkiDir, 'server.key'),
          '--trusted-ca-file', join(this.options.pkiDir, 'ca.crt'), '--client-cert-auth',
        ] : []),
      ],
      { stdio: ['ignore', out, out], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.arch === 'x64' ? '' : process.arch } },
    );
    this.child = child;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new ClusterError('DM_ETCD_START', `etcd exited with code ${code} during start; see ${join(this.dataDir, 'etcd.log')}`))),
    );
    await Promise.race([this.waitHealthy(15_000), exited]);
    return this;
  }

  private async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const cert = this.options.pkiDir ? clientCert(this.options.pkiDir, 'root') : undefined;
    while (Date.now() < deadline) {
      if (await etcdHealthy(this.endpoint, cert, 500)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new ClusterError('DM_ETCD_START', `etcd at ${this.endpoint} did not become healthy within ${timeoutMs} ms`);
  }

  /** Stop with SIGTERM (or SIGKILL), keeping the data dir so `start()` resumes it. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stop and remove the data dir if this object created it. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export async function startEtcd(options: EtcdServerOptions = {}): Promise<EtcdServer> {
  return new EtcdServer(options).start();
}
