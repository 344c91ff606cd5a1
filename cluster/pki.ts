/**
 * The certificates of a one-host cluster's etcd (`dynomesh up`): a CA, etcd's
 * server certificate, and one client certificate per daemon, whose CN is its
 * etcd user (etcd with --client-cert-auth takes the user from the CN), so each
 * daemon gets only its own role (etcd-auth.ts). Made with the `openssl` CLI
 * (Node cannot sign certificates); keys and certificates are 0600, the
 * directory 0700. Existing files are kept, so a restarted `up` reuses them.
 *
 *   <dir>/ca.crt ca.key  server.crt server.key  <user>.crt <user>.key
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClusterError } from './errors.ts';

export interface ClientCert {
  ca: string;
  cert: string;
  key: string;
}

const DAYS = '3650';

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new ClusterError('DM_PKI', 'openssl is not installed (apt-get install -y openssl); it makes the etcd certificates');
    throw new ClusterError('DM_PKI', `openssl ${args[0]} failed: ${e.stderr?.toString().trim().split('\n').pop() ?? e.message}`);
  }
}

/** Signs `<name>.crt` for `<name>.key` with the CA; `ext` holds the extensions. */
function issue(dir: string, name: string, subject: string, ext: string): void {
  if (existsSync(join(dir, `${name}.crt`))) return;
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  try {
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`], dir);
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', DAYS, '-sha256', '-extfile', extFile, '-out', `${name}.crt`], dir);
  } finally {
    rmSync(extFile, { force: true });
    rmSync(join(dir, `${name}.csr`), { force: true });
  }
  chmodSync(join(dir, `${name}.key`), 0o600);
  chmodSync(join(dir, `${name}.crt`), 0o600);
}

/**
 * Makes (or keeps) the CA, a server certificate for `hosts` (IP addresses or
 * names) and a client certificate for each of `users`.
 */
export function ensurePki(dir: string, hosts: string[], users: string[]): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  if (!existsSync(join(dir, 'ca.crt'))) {
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ca.key'], dir);
    openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=dynomesh etcd CA', '-days', DAYS, '-sha256', '-out', 'ca.crt'], dir);
    chmodSync(join(dir, 'ca.key'), 0o600);
    chmodSync(join(dir, 'ca.crt'), 0o600);
  }
  const san = hosts.map((h) => (/^[0-9.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  issue(dir, 'server', '/CN=etcd', `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${san}\n`);
  for (const u of users) {
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(u)) throw new ClusterError('DM_PKI', `"${u}" is not an etcd user name for a certificate`);
    issue(dir, u, `/CN=${u}`, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  }
  // openssl's serial file too: nothing in here is for anyone else.
  for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o600);
}

/** The files a client (daemon, etcdctl) presents as `user`. */
export function clientCert(dir: string, user: string): ClientCert {
  return { ca: join(dir, 'ca.crt'), cert: join(dir, `${user}.crt`), key: join(dir, `${user}.key`) };
}
