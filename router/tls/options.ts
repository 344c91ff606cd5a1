/**
 * `dynomesh router` flags for HTTPS, and the key opener: certificates' private
 * keys are sealed in etcd (as config vars are) with the certificates key, which
 * is derived from the cluster key (cluster/certs-key.ts); the router holds only
 * that file (`dynomesh certs-key --out`) and opens keys into memory with it.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { Option, type Command } from 'commander';
import type { Logger } from 'pino';
import type { Cert } from '../../cluster/records.ts';
import { unseal } from '../../cluster/sealed.ts';
import { loadCertsKey } from '../../cluster/certs-key.ts';
import { parsePort } from '../../lib/options.ts';
import type { KeyOpener } from '../table/delta.ts';
import type { RouterOptions } from '../server.ts';

export interface TlsFlags {
  httpsPort?: number;
  httpsForwardedPort?: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsDevCa?: string;
  certsKey: string;
}

export function addTlsOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--https-port <port>', 'serve HTTPS on this port too (TLS ends here; certificates by SNI from `certs:add` and ACM); 0 = any free port').env('DYNOMESH_ROUTER_HTTPS_PORT').argParser(parsePort))
    .addOption(new Option('--https-forwarded-port <port>', 'X-Forwarded-Port of HTTPS requests and the port http-redirect sends to (default: --https-port; 443 behind port forwarding)').env('DYNOMESH_ROUTER_HTTPS_FORWARDED_PORT').argParser(parsePort))
    .addOption(new Option('--tls-cert <file>', 'certificate (PEM chain) served when no app certificate matches the SNI name, e.g. a wildcard for the base domain; without one such handshakes fail').env('DYNOMESH_ROUTER_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'private key of --tls-cert').env('DYNOMESH_ROUTER_TLS_KEY'))
    .addOption(new Option('--tls-dev-ca <dir>', 'development only (dynomesh up): mint a certificate signed by <dir>/ca.crt for every routed host without one').env('DYNOMESH_ROUTER_TLS_DEV_CA'))
    .addOption(new Option('--certs-key <file>', 'certificates key file (from `dynomesh certs-key --out` on a control host): opens the certificates\' sealed private keys (with --https-port only)').env('DYNOMESH_CERTS_KEY').default(`${homedir()}/.dynomesh/certs.key`));
}

/** The router options the flags give, or a one-line reason they cannot work. */
export function tlsOptionsFrom(f: TlsFlags): Partial<RouterOptions> | string {
  if (f.httpsPort === undefined) {
    if (f.tlsCert || f.tlsKey || f.tlsDevCa || f.httpsForwardedPort !== undefined) return '--tls-cert, --tls-key, --tls-dev-ca and --https-forwarded-port need --https-port';
    return {};
  }
  if (Boolean(f.tlsCert) !== Boolean(f.tlsKey)) return '--tls-cert and --tls-key go together';
  for (const file of [f.tlsCert, f.tlsKey]) if (file && !existsSync(file)) return `${file} does not exist`;
  if (f.tlsDevCa && !(existsSync(`${f.tlsDevCa}/ca.crt`) && existsSync(`${f.tlsDevCa}/ca.key`))) return `--tls-dev-ca ${f.tlsDevCa} holds no ca.crt and ca.key`;
  return {
    httpsPort: f.httpsPort,
    httpsForwardedPort: f.httpsForwardedPort,
    tlsDefaultCert: f.tlsCert && f.tlsKey ? { certFile: f.tlsCert, keyFile: f.tlsKey } : undefined,
    tlsDevCa: f.tlsDevCa,
  };
}

/** Opens sealed certificate keys with the certificates key file; a key that does not open is logged (never its bytes) and skipped. */
export function keyOpener(certsKeyFile: string, log: Logger): KeyOpener {
  const key = loadCertsKey(certsKeyFile.replace(/^~(?=\/)/, homedir()));
  return (cert: Cert) => {
    try {
      const pem = unseal(key, cert.key).key;
      if (typeof pem !== 'string') throw new Error('sealed value has no key');
      return pem;
    } catch (err) {
      log.error({ app: cert.app, cert: cert.name, err: (err as Error).message }, 'tls-key-does-not-open');
      return null;
    }
  };
}
