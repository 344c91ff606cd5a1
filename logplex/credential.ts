/**
 * Producer credentials for the log ingestion port. Each producer has its own
 * id, `<kind>:<name>` (`router:r1`, `node:n1`, `control:c1`), and a secret the
 * control derives from the cluster key, so the log service checks a producer
 * without any stored state and a router never holds the cluster key:
 *
 *   secret = HMAC-SHA256(cluster key, "dynomesh-log-producer-v1\0" + id)
 *
 * On connect the service sends a random nonce; the producer answers with its id
 * and HMAC-SHA256(secret, nonce + "\0" + id). The kind decides what the producer
 * may write (control/logs/producer-policy.ts).
 *
 * A credential file holds one line, `<id> <secret hex>`, mode 0600
 * (`dynomesh log-credential` issues one).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';

export type ProducerKind = 'control' | 'router' | 'node';

export interface ProducerCredential {
  id: string;
  secret: Buffer;
}

const ID = /^(control|router|node):[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/;

export class CredentialError extends Error {
  override name = 'CredentialError';
}

export const isProducerId = (id: string): boolean => ID.test(id);

export function kindOf(id: string): ProducerKind {
  return id.slice(0, id.indexOf(':')) as ProducerKind;
}

/** The secret of producer `id`, from the cluster key (only hosts holding the key can issue one). */
export function deriveCredential(clusterKey: Buffer, id: string): ProducerCredential {
  if (!isProducerId(id)) throw new CredentialError(`"${id}" is not a producer id; write router:<name>, node:<node id> or control:<id>`);
  return { id, secret: createHmac('sha256', clusterKey).update('dynomesh-log-producer-v1\0' + id).digest() };
}

/** The producer's answer to the service's nonce. */
export function proof(secret: Buffer, nonce: Buffer, id: string): Buffer {
  return createHmac('sha256', secret).update(nonce).update('\0' + id).digest();
}

export function verifyProof(clusterKey: Buffer, nonce: Buffer, id: string, presented: unknown): boolean {
  if (!isProducerId(id) || !(presented instanceof Uint8Array) || presented.length !== 32) return false;
  return timingSafeEqual(proof(deriveCredential(clusterKey, id).secret, nonce, id), presented);
}

export function formatCredential(c: ProducerCredential): string {
  return `${c.id} ${c.secret.toString('hex')}\n`;
}

export function writeCredential(path: string, c: ProducerCredential): void {
  writeFileSync(path, formatCredential(c), { mode: 0o600 });
}

/** Reads a credential file; refuses one that others may read (a copied secret is a forged producer). */
export function loadCredential(path: string): ProducerCredential {
  let text: string;
  try {
    if ((statSync(path).mode & 0o077) !== 0) throw new CredentialError(`log credential ${path} is readable by other users; chmod 600 it`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof CredentialError) throw err;
    throw new CredentialError(`cannot read log credential ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const m = /^(\S+) ([0-9a-f]{64})\s*$/.exec(text);
  if (!m || !isProducerId(m[1]!)) throw new CredentialError(`log credential ${path} must hold one line "<kind>:<name> <64 hex>" (issue one with dynomesh log-credential)`);
  return { id: m[1]!, secret: Buffer.from(m[2]!, 'hex') };
}
