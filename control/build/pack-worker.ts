/**
 * Piscina worker: packs a build dir into the slug, a gzip tarball whose root is
 * the app dir (`Procfile`, `package.json`, ... at the top level), off the
 * control's event loop. Owners are dropped (`portable`), modes kept, symlinks
 * stored as links. Links that dyno-nodes would refuse (absolute, or leaving the
 * app dir) are reported so the build fails now rather than every dyno later;
 * sockets and fifos a build left behind are skipped.
 */
import { readlinkSync, Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import * as tar from 'tar';
import type { ReadEntry } from 'tar';

export interface PackTask {
  dir: string;
  file: string;
}

export interface PackResult {
  size: number;
  entries: number;
  /** Links that leave the app dir (the slug must not be used). */
  problems: string[];
  skipped: string[];
}

function escapes(path: string, target: string): boolean {
  if (target.startsWith('/')) return true;
  const n = posix.normalize(posix.join(posix.dirname(path), target));
  return n === '..' || n.startsWith('../');
}

export async function pack({ dir, file }: PackTask): Promise<PackResult> {
  const top = (await readdir(dir)).sort();
  let entries = 0;
  const problems: string[] = [];
  const skipped: string[] = [];
  const filter = (path: string, entry: Stats | ReadEntry) => {
    if (!(entry instanceof Stats)) return true; // only read entries when extracting; packing sees Stats
    const st = entry;
    const rel = path.replace(/^\.\//, '');
    if (st.isFIFO() || st.isSocket() || st.isBlockDevice() || st.isCharacterDevice()) {
      skipped.push(rel);
      return false;
    }
    if (st.isSymbolicLink()) {
      const target = readlinkSync(join(dir, rel));
      if (escapes(rel, target) && problems.length < 20) problems.push(`${rel} -> ${target}`);
    }
    entries++;
    return true;
  };
  await tar.c({ gzip: { level: 6 }, cwd: dir, file, portable: true, follow: false, filter }, top);
  return { size: (await stat(file)).size, entries, problems, skipped };
}
