/**
 * The key that seals TLS certificates' private keys in etcd (`routing/certs/`):
 * derived from the cluster key, so control hosts need nothing new, while routers
 * get only this key (a file, `dynomesh certs-key --out`) and never the cluster
 * key itself: a router can open the keys it serves, not config vars. Sealed with
 * `sealed.ts`'s format (AES-256-GCM) as `{key: pem}`.
 */
import { createHmac } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ClusterError } from './errors.ts';

export function deriveCertsKey(clusterKey: Buffer): Buffer {
  return createHmac('sha256', clusterKey).update('dynomesh-certs-key-v1').digest();
}

export function writeCertsKey(path: string, key: Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, key.toString('hex') + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function loadCertsKey(path: string): Buffer {
  if (!existsSync(path)) throw new ClusterError('DM_CERTS_KEY', `certificates key file ${path} does not exist; make it on a control host with \`dynomesh certs-key --out ${path}\``);
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'hex');
  if (key.length !== 32) throw new ClusterError('DM_CERTS_KEY', `certificates key file ${path} must hold 64 hex characters`);
  return key;
}
