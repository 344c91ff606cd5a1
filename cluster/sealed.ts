/**
 * Config vars at rest: AES-256-GCM with the cluster key, so `etcdctl get` shows
 * ciphertext. Layout: 1 byte format (1) | 12 bytes IV | 16 bytes tag | ciphertext.
 * Only control hosts hold the key file: dyno-nodes get per-node credentials
 * (node-credential.ts), routers a derived certificates key (certs-key.ts).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ClusterError } from './errors.ts';

const FORMAT = 1;

export function seal(key: Buffer, plain: Record<string, string>): Uint8Array {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(plain), 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.of(FORMAT), iv, cipher.getAuthTag(), body]);
}

export function unseal(key: Buffer, sealed: Uint8Array): Record<string, string> {
  const b = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (b.length < 29 || b[0] !== FORMAT) throw new ClusterError('DM_SEALED', 'sealed config has an unknown format');
  const decipher = createDecipheriv('aes-256-gcm', key, b.subarray(1, 13));
  decipher.setAuthTag(b.subarray(13, 29));
  try {
    const plain = Buffer.concat([decipher.update(b.subarray(29)), decipher.final()]);
    return JSON.parse(plain.toString('utf8')) as Record<string, string>;
  } catch {
    throw new ClusterError('DM_SEALED', 'sealed config does not open with this cluster key (wrong key file?)');
  }
}

/** Reads the 32-byte cluster key (hex), creating it with mode 0600 when `create` is set and it is missing. */
export function loadClusterKey(path: string, create = false): Buffer {
  if (!existsSync(path)) {
    if (!create) throw new ClusterError('DM_CLUSTER_KEY', `cluster key file ${path} does not exist; copy it from a control host or set DYNOMESH_CLUSTER_KEY (control hosts only: dyno-nodes use a node credential)`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  }
  chmodSync(path, 0o600);
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'hex');
  if (key.length !== 32) throw new ClusterError('DM_CLUSTER_KEY', `cluster key file ${path} must hold 64 hex characters`);
  return key;
}

/**
 * The bearer token control instances present to each other (slug copies, log
 * streams): derived from the cluster key, which only controls hold. Dyno-nodes
 * sign with their own credential instead (node-credential.ts).
 */
export function peerToken(key: Buffer): string {
  return createHmac('sha256', key).update('dynomesh-control-peer-v1').digest('hex');
}
