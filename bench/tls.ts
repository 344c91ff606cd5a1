/**
 * The certificate every proxy ends TLS with in the `tls` scenarios: one self-signed EC
 * P-256 certificate for bench.localhost and 127.0.0.1 (made with the openssl CLI once per
 * run), so the router, nginx and HAProxy do the same handshake work (TLS 1.3 with wrk's
 * OpenSSL; TLS 1.2 at least everywhere).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_HOST, type TlsFiles } from './targets/target.ts';

export function benchCertificate(dir: string): TlsFiles {
  const certFile = join(dir, 'bench-tls.crt');
  const keyFile = join(dir, 'bench-tls.key');
  const pemFile = join(dir, 'bench-tls.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-days', '2', '-subj', `/CN=${BENCH_HOST}`, '-addext', `subjectAltName=DNS:${BENCH_HOST},IP:127.0.0.1`], { stdio: ['ignore', 'ignore', 'pipe'] });
  writeFileSync(pemFile, readFileSync(certFile, 'utf8') + readFileSync(keyFile, 'utf8'), { mode: 0o600 });
  return { certFile, keyFile, pemFile };
}
