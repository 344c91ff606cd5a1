/**
 * A real ACME CA for tests: Debian's `pebble` (Let's Encrypt's test server) and
 * `pebble-challtestsrv` as its DNS (every name resolves to 127.0.0.1 unless a
 * test points it elsewhere). Pebble validates HTTP-01 on `httpPort`, where the
 * test's router listens. shared/reference/acme.md has what was measured.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../lib/ports.ts';
import { eventually } from './etcd.ts';
import { makeCa, makeLeaf } from './certs.ts';

export interface Pebble {
  directoryUrl: string;
  /** PEM the test's clients (and control's --acme-ca-file) trust for pebble's own HTTPS. */
  caPem: string;
  caFile: string;
  /** Pebble's issuing root (a new one each start): verify issued chains against it. */
  root(): Promise<string>;
  /** Make `host` resolve to `ip` (e.g. 127.0.0.2, where nothing answers). */
  resolve(host: string, ip: string): Promise<void>;
  stop(): Promise<void>;
}

/** Both binaries are installed (scripts/install-deps.sh --acme). */
export function hasPebble(): boolean {
  return ['pebble', 'pebble-challtestsrv'].every((b) => spawnSync(b, ['-h'], { stdio: 'ignore', timeout: 5000 }).error === undefined);
}

function get(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, { agent: new Agent({ ca }) }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(b) : reject(new Error(`${url}: ${res.statusCode} ${b}`))));
    }).on('error', reject).end();
  });
}

function post(url: string, body: unknown): Promise<void> {
  return fetch(url, { method: 'POST', body: JSON.stringify(body) }).then((r) => {
    if (!r.ok) throw new Error(`${url}: ${r.status}`);
  });
}

/** Starts challtestsrv and pebble validating HTTP-01 on `httpPort`. */
export async function startPebble(httpPort: number): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), 'dynomesh-pebble-'));
  const ca = makeCa('pebble listener CA');
  // its own HTTPS listener: clients dial 127.0.0.1
  const ipLeaf = makeLeaf(ca, ['localhost'], { ip: '127.0.0.1' });
  const [acmePort, mgmtPort, dnsPort, chalMgmt] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const procs: ChildProcess[] = [];
  const chal = spawn('pebble-challtestsrv', ['-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${chalMgmt}`, '-defaultIPv6', ''], { stdio: 'ignore' });
  procs.push(chal);
  writeFileSync(join(dir, 'pebble.json'), JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`, managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: ipLeaf.certFile, privateKey: ipLeaf.keyFile, httpPort, tlsPort: 5001,
      ocspResponderURL: '', externalAccountBindingRequired: false,
    },
  }));
  const peb = spawn('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  peb.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  peb.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  procs.push(peb);
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  await eventually(async () => Boolean(await get(directoryUrl, ca.cert)), 15_000, `pebble's directory (${out.slice(-500)})`);
  return {
    directoryUrl,
    caPem: ca.cert,
    caFile: ca.certFile,
    root: () => get(`https://127.0.0.1:${mgmtPort}/roots/0`, ca.cert),
    resolve: (host, ip) => post(`http://127.0.0.1:${chalMgmt}/add-a`, { host, addresses: [ip] }),
    async stop() {
      for (const p of procs) {
        if (p.exitCode === null && p.signalCode === null) {
          const gone = new Promise((r) => p.once('exit', r));
          p.kill('SIGTERM');
          await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
        }
      }
      if (process.env.KEEP_LOGS) console.log(out);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
