/**
 * Test certificates made with the openssl CLI: a CA, and leaf certificates it
 * signs for given DNS names (EC P-256), so clients can verify with `--cacert`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

const dir = mkdtempSync(join(tmpdir(), 'dynomesh-test-certs-'));
let n = 0;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeCa(cn = 'dynomesh test CA'): Pem {
  const base = join(dir, `ca${++n}`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.crt`,
    '-days', '30', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return read(base);
}

/** A leaf for `names` signed by `ca`; `days` < 0 makes one that has already expired. */
export function makeLeaf(ca: Pem, names: string[], opts: { days?: number; rsa?: boolean; ip?: string } = {}): Pem {
  const base = join(dir, `leaf${++n}`);
  const keyArgs = opts.rsa ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  openssl(['req', '-new', ...keyArgs, '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${names[0]}`]);
  const sans = [...names.map((x) => `DNS:${x}`), ...(opts.ip ? [`IP:${opts.ip}`] : [])];
  writeFileSync(`${base}.ext`, `subjectAltName=${sans.join(',')}\nbasicConstraints=CA:FALSE\n`);
  const days = opts.days ?? 30;
  if (days > 0) {
    openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', `${base}.crt`, '-days', String(days), '-extfile', `${base}.ext`]);
  } else {
    // valid from two days ago to yesterday: `openssl x509` of OpenSSL 3.0 cannot backdate, `openssl ca` can
    const fmt = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
    writeFileSync(`${base}.idx`, '');
    writeFileSync(`${base}.serial`, '1000\n');
    writeFileSync(`${base}.cnf`, `[ca]\ndefault_ca=d\n[d]\ndatabase=${base}.idx\nnew_certs_dir=${dir}\nserial=${base}.serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n`);
    openssl(['ca', '-batch', '-notext', '-config', `${base}.cnf`, '-cert', ca.certFile, '-keyfile', ca.keyFile, '-in', `${base}.csr`, '-out', `${base}.crt`,
      '-startdate', fmt(new Date(Date.now() - 2 * 86400_000)), '-enddate', fmt(new Date(Date.now() - 86400_000)), '-extfile', `${base}.ext`]);
  }
  return read(base);
}

function read(base: string): Pem {
  return { cert: readFileSync(`${base}.crt`, 'utf8'), key: readFileSync(`${base}.key`, 'utf8'), certFile: `${base}.crt`, keyFile: `${base}.key` };
}
