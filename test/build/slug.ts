/** Slug checks for build tests: download with the node token, verify the sha256, list and run it. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { freePort } from '../../lib/ports.ts';
import { loadClusterKey, peerToken } from '../../cluster/sealed.ts';
import { eventually } from '../support/etcd.ts';

export async function downloadSlug(base: string, clusterKeyPath: string, sha256: string): Promise<{ body: Buffer; sha256: string; status: number }> {
  const res = await fetch(`${base}/internal/slugs/${sha256}`, { headers: { authorization: `Bearer ${peerToken(loadClusterKey(clusterKeyPath))}` } });
  const body = Buffer.from(await res.arrayBuffer());
  return { body, status: res.status, sha256: createHash('sha256').update(body).digest('hex') };
}

/** Entry paths of a slug tarball, as stored (no `./` prefix when packed right). */
export async function slugEntries(slug: Buffer): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dm-slug-'));
  try {
    writeFileSync(join(dir, 's.tgz'), slug);
    const paths: string[] = [];
    await tar.t({ file: join(dir, 's.tgz'), onReadEntry: (e) => void paths.push(e.path) });
    return paths;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Unpacks the slug and runs `command` the way a dyno does (HOME = the app dir,
 * `.profile.d/*.sh` sourced, $PORT set), then GETs `paths` from it.
 */
export async function runSlug(slug: Buffer, command: string, paths: string[]): Promise<{ status: number; body: string }[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dm-run-'));
  const app = join(dir, 'app');
  writeFileSync(join(dir, 's.tgz'), slug);
  await import('node:fs/promises').then((f) => f.mkdir(app));
  await tar.x({ file: join(dir, 's.tgz'), cwd: app });
  const port = await freePort();
  const prelude = 'for f in .profile.d/*.sh; do [ -r "$f" ] && . "./$f"; done; exec /bin/sh -c "$1"';
  const child = spawn('/bin/sh', ['-c', prelude, 'dyno', command], {
    cwd: app, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: { HOME: app, PATH: `${join(process.execPath, '..')}:/usr/local/bin:/usr/bin:/bin`, PORT: String(port), DYNO: 'web.1' },
  });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b));
  child.stderr.on('data', (b: Buffer) => (output += b));
  try {
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/`)).status > 0, 15_000, `"${command}" listening (output: ${output})`);
    const out: { status: number; body: string }[] = [];
    for (const p of paths) {
      const res = await fetch(`http://127.0.0.1:${port}${p}`, { redirect: 'manual' });
      out.push({ status: res.status, body: await res.text() });
    }
    return out;
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
