/**
 * Piscina worker: packs a build dir into the slug, a gzip tarball whose root is
 * the app dir (`Procfile`, `package.json`, ... at the top level), off the
 * control's event loop. Owners are dropped (`portable`), modes kept, symlinks
 * stored as links (dyno-nodes refuse links that leave the slug).
 */
import { readdir, stat } from 'node:fs/promises';
import * as tar from 'tar';

export interface PackTask {
  dir: string;
  file: string;
}

export async function pack({ dir, file }: PackTask): Promise<{ size: number; entries: number }> {
  const top = (await readdir(dir)).sort();
  let entries = 0;
  await tar.c({ gzip: { level: 6 }, cwd: dir, file, portable: true, follow: false, filter: () => (entries++, true) }, top.length ? top : []);
  return { size: (await stat(file)).size, entries };
}
