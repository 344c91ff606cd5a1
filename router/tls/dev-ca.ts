/**
 * A development CA (`--tls-dev-ca <dir>`, what `dynomesh up` uses): the router
 * mints a certificate, signed by `<dir>/ca.crt`, for every routed host that has
 * no certificate of its own, so `https://<app>.localhost:5443` works out of the
 * box for whoever trusts that CA (`curl --cacert`). A wildcard cannot do this:
 * TLS clients refuse `*.localhost` (one label under the star). Certificates from
 * `certs:add` and ACM always win. Not for production: anyone holding the CA key
 * can impersonate any name to clients that trust it.
 *
 * `ensureDevCa(dir)` creates the CA once (ECDSA P-256, 10 years, key 0600).
 * Minted leaves share one P-256 key made at start (in memory only) and are
 * cached per host for the process's lifetime (valid 90 days from minting).
 */
import { webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import type { TlsMaterial } from '../table/delta.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

const pem = (label: string, der: ArrayBuffer) => `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').trim()}\n-----END ${label}-----\n`;
const der = (p: string) => Buffer.from(p.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');

/** Creates `<dir>/ca.crt` and `<dir>/ca.key` unless they exist; returns the certificate's path. */
export async function ensureDevCa(dir: string, name = 'dynomesh up development CA'): Promise<string> {
  const crt = join(dir, 'ca.crt');
  if (existsSync(crt) && existsSync(join(dir, 'ca.key'))) return crt;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex').replace(/^[89a-f]/, '1'),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 3650 * DAY),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  writeFileSync(join(dir, 'ca.key'), pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), { mode: 0o600 });
  writeFileSync(crt, cert.toString('pem') + '\n');
  return crt;
}

export class DevCa {
  private readonly cache = new Map<string, TlsMaterial>();
  private leaf: Promise<{ keys: CryptoKeyPair; keyPem: string }> | undefined;

  private constructor(private readonly caCert: x509.X509Certificate, private readonly caPem: string, private readonly caKey: CryptoKey) {}

  static async load(dir: string): Promise<DevCa> {
    const caPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
    new NodeX509(caPem); // a readable certificate, or throw here with node's message
    const caKey = await webcrypto.subtle.importKey('pkcs8', der(readFileSync(join(dir, 'ca.key'), 'utf8')), ALG, false, ['sign']);
    return new DevCa(new x509.X509Certificate(caPem), caPem, caKey);
  }

  /** A certificate for each of `hosts` (minted once per host). */
  async certsFor(hosts: Iterable<string>): Promise<Map<string, TlsMaterial>> {
    const out = new Map<string, TlsMaterial>();
    for (const h of hosts) {
      let c = this.cache.get(h);
      if (!c) this.cache.set(h, (c = await this.mint(h)));
      out.set(h, c);
    }
    return out;
  }

  private async mint(host: string): Promise<TlsMaterial> {
    const leaf = await (this.leaf ??= (async () => {
      const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
      return { keys, keyPem: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) };
    })());
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(12))).toString('hex').replace(/^[89a-f]/, '1'),
      subject: `CN=${host}`,
      issuer: this.caCert.subject,
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + 90 * DAY),
      publicKey: leaf.keys.publicKey,
      signingKey: this.caKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: host }]),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      ],
    });
    return { app: '', name: 'dev-ca', domains: [host], chain: cert.toString('pem') + '\n' + this.caPem, key: leaf.keyPem, notAfter: now + 90 * DAY, updatedAt: now };
  }
}
