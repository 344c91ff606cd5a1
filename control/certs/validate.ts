/**
 * Checks a certificate chain and private key before anything is stored
 * (`certs:add`, `certs:update`, ACM issuance), with node:crypto only:
 * - the chain parses as PEM certificates, the leaf first;
 * - the key parses (PEM, unencrypted) and is the leaf's key pair;
 * - the leaf is valid now (not expired, not yet to come);
 * - the leaf names at least one DNS name (subjectAltName, else CN);
 * - each certificate in the chain is issued by the next one.
 * Each refusal is one line saying what is wrong and what to do.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { invalid } from '../errors.ts';

export interface CertFacts {
  /** The chain as given (normalised line ends, one trailing newline). */
  chain: string;
  /** The key as PEM (PKCS#8). */
  keyPem: string;
  domains: string[];
  notBefore: number;
  notAfter: number;
  issuer: string;
  subject: string;
  selfSigned: boolean;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
/** Larger than any real chain: refuse before parsing megabytes. */
const MAX_PEM = 64 * 1024;

export function checkCertificate(chainPem: unknown, keyPem: unknown, now = Date.now()): CertFacts {
  if (typeof chainPem !== 'string' || chainPem.trim() === '') throw invalid('the certificate is empty: give a PEM file (-----BEGIN CERTIFICATE-----), the leaf first, then intermediates');
  if (typeof keyPem !== 'string' || keyPem.trim() === '') throw invalid('the private key is empty: give the PEM key file that goes with the certificate');
  if (chainPem.length > MAX_PEM || keyPem.length > MAX_PEM) throw invalid(`certificate or key larger than ${MAX_PEM / 1024} KB; give only the PEM chain and its key`);
  const blocks = chainPem.replace(/\r\n/g, '\n').match(PEM_CERT);
  if (!blocks) throw invalid('no PEM certificate found: expected -----BEGIN CERTIFICATE----- (was the key given as the certificate?)');
  let certs: X509Certificate[];
  try {
    certs = blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    throw invalid(`the certificate does not parse: ${(err as Error).message}`);
  }
  if (/ENCRYPTED/.test(keyPem)) throw invalid('the private key is encrypted: decrypt it first (openssl pkey -in key.pem -out plain.pem)');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: keyPem, format: 'pem' });
  } catch {
    throw invalid('the private key does not parse: give an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)');
  }
  const leaf = certs[0]!;
  if (!leaf.checkPrivateKey(key)) throw invalid(`the private key does not match the certificate for ${leaf.subject.replace(/\n/g, ', ')}: give the key this certificate was issued for`);
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = Date.parse(leaf.validTo);
  if (notAfter <= now) throw invalid(`the certificate expired on ${new Date(notAfter).toISOString()}: renew it first`);
  if (notBefore > now) throw invalid(`the certificate is not valid before ${new Date(notBefore).toISOString()}`);
  for (let i = 0; i + 1 < certs.length; i++) {
    if (!certs[i]!.checkIssued(certs[i + 1]!)) throw invalid(`certificate ${i + 1} of the chain is not issued by certificate ${i + 2}: put the leaf first, then each issuer in order`);
  }
  const domains = dnsNames(leaf);
  if (domains.length === 0) throw invalid('the certificate names no DNS host (no subjectAltName DNS entry or CN)');
  return {
    chain: blocks.join('\n') + '\n',
    keyPem: key.export({ format: 'pem', type: 'pkcs8' }) as string,
    domains,
    notBefore,
    notAfter,
    issuer: leaf.issuer.replace(/\n/g, ', '),
    subject: leaf.subject.replace(/\n/g, ', '),
    selfSigned: leaf.issuer === leaf.subject && leaf.checkIssued(leaf),
  };
}

/** DNS names of subjectAltName, lowercase; the CN when there is no DNS entry. */
export function dnsNames(c: X509Certificate): string[] {
  const out = new Set<string>();
  for (const part of (c.subjectAltName ?? '').split(/,\s*/)) {
    if (part.startsWith('DNS:')) out.add(part.slice(4).toLowerCase().replace(/\.$/, ''));
  }
  if (out.size === 0) {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(c.subject)?.[1];
    if (cn && /^[*a-z0-9.-]+$/i.test(cn)) out.add(cn.toLowerCase());
  }
  return [...out].filter((d) => /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(d));
}
