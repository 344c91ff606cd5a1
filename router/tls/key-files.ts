/**
 * uWS loads certificates and keys only from files (`key_file_name`,
 * `cert_file_name`), and reads them when `addServerName` is called. So each
 * opened key is written to a private directory on tmpfs (/dev/shm: never on a
 * disk), mode 0600 in a 0700 directory of this process, handed to uWS and
 * unlinked at once; the directory goes when the router stops. A key exists as
 * a file only for the microseconds of one `addServerName` call.
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class KeyFiles {
  private dir: string | null = null;
  private seq = 0;

  /** Writes key and chain, calls `use(keyFile, certFile)`, removes both files whatever happens. */
  with<T>(key: string, chain: string, use: (keyFile: string, certFile: string) => T): T {
    const dir = (this.dir ??= mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'dynomesh-router-tls-')));
    const n = ++this.seq;
    const keyFile = join(dir, `${n}.key`);
    const certFile = join(dir, `${n}.crt`);
    try {
      writeFileSync(keyFile, key, { mode: 0o600, flag: 'wx' });
      writeFileSync(certFile, chain, { mode: 0o600, flag: 'wx' });
      return use(keyFile, certFile);
    } finally {
      for (const f of [keyFile, certFile]) {
        try {
          unlinkSync(f);
        } catch {
          /* not written */
        }
      }
    }
  }

  close(): void {
    if (this.dir !== null) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}
