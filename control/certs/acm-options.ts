/** `dynomesh control` flags for Automatic Certificate Management (ACME directory, contact, CA trust). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { AcmOptions } from './acm.ts';

// Here, not in acm.ts, so the flags are described without loading the ACME client.
export const LETS_ENCRYPT = 'https://acme-v02.api.letsencrypt.org/directory';

export interface AcmFlags {
  acmeDirectory: string;
  acmeEmail?: string;
  acmeCaFile?: string;
}

function parseDirectory(v: string): string {
  if (v === 'off') return v;
  try {
    const u = new URL(v);
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname))) throw new Error();
    return v;
  } catch {
    throw new InvalidArgumentError(`"${v}" is not an https URL of an ACME directory (example: ${LETS_ENCRYPT}), or "off"`);
  }
}

export function addAcmOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--acme-directory <url>', 'ACME directory Automatic Certificate Management orders certificates from (the leader runs it); "off" disables ACM').env('DYNOMESH_ACME_DIRECTORY').default(LETS_ENCRYPT, "Let's Encrypt").argParser(parseDirectory))
    .addOption(new Option('--acme-email <email>', 'contact address of the ACME account (the CA\'s expiry notices)').env('DYNOMESH_ACME_EMAIL'))
    .addOption(new Option('--acme-ca-file <file>', 'also trust this CA (PEM) for the ACME directory\'s HTTPS, e.g. a test CA such as pebble\'s').env('DYNOMESH_ACME_CA_FILE'));
}

/** ACM settings from the flags, or undefined when ACM is off; a string is a one-line reason they cannot work. */
export function acmOptionsFrom(f: AcmFlags, dataDir: string): AcmOptions | undefined | string {
  if (f.acmeDirectory === 'off') return undefined;
  let caPem: string | undefined;
  if (f.acmeCaFile) {
    try {
      caPem = readFileSync(f.acmeCaFile, 'utf8');
    } catch (err) {
      return `cannot read --acme-ca-file ${f.acmeCaFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    }
  }
  return { directoryUrl: f.acmeDirectory, accountKeyFile: join(dataDir, 'acme-account.key'), ...(f.acmeEmail ? { email: f.acmeEmail } : {}), ...(caPem ? { caPem } : {}) };
}
