/**
 * Piscina worker: the CPU-bound and many-syscall parts of slug handling, kept
 * off the agent's event loop so a 500 MB slug does not stall status writes.
 *   hash({ file })           -> sha256 hex of the file
 *   unpack({ file, dest })   -> refuses bad entries, extracts into dest (which must not exist)
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chown, mkdir, realpath, rm } from 'node:fs/promises';
import * as tar from 'tar';
import { entryProblem, escapingLinks } from '../lib/tar-guard.ts';

export async function hash({ file }: { file: string }): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

export class SlugRefused extends Error {
  override name = 'SlugRefused';
}

export interface UnpackTask {
  file: string;
  dest: string;
  /** Owner of everything unpacked (the app's user), when the agent runs as root. */
  uid?: number;
  gid?: number;
  maxBytes?: number;
}

/** A slug that unpacks past this is refused (a gzip bomb must not fill the host's disk). */
export const MAX_UNPACKED_BYTES = 4 * 1024 ** 3;

export async function unpack({ file, dest, uid, gid, maxBytes = MAX_UNPACKED_BYTES }: UnpackTask): Promise<{ entries: number; bytes: number }> {
  // Pass 1: read every header; nothing is written yet.
  let problem: string | undefined;
  let entries = 0;
  let bytes = 0;
  await tar.t({
    file,
    strict: true,
    onReadEntry: (e) => {
      entries++;
      bytes += e.size ?? 0;
      problem ??= entryProblem(e.path, e.type, e.linkpath);
      if (bytes > maxBytes) problem ??= `unpacks to more than ${Math.round(maxBytes / 1048576)} MB`;
    },
  });
  if (problem) throw new SlugRefused(`slug refused: ${problem}`);

  // Pass 2: extract into a fresh directory; tar itself also refuses writes through links.
  await mkdir(dest, { recursive: false, mode: 0o700 });
  try {
    const root = await realpath(dest);
    await tar.x({
      file,
      cwd: root,
      strict: true,
      preservePaths: false,
      preserveOwner: false,
      ...(uid !== undefined && gid !== undefined ? { uid, gid } : {}),
      filter: (path, e) => entryProblem(path, (e as tar.ReadEntry).type ?? 'File', (e as tar.ReadEntry).linkpath) === undefined,
    });
    if (uid !== undefined && gid !== undefined) await chown(root, uid, gid);
    const bad = await escapingLinks(root);
    if (bad.length > 0) throw new SlugRefused(`slug refused: links leave the app directory: ${bad.slice(0, 5).join(', ')}`);
  } catch (err) {
    await rm(dest, { recursive: true, force: true });
    if (err instanceof SlugRefused) throw err;
    throw new SlugRefused(`slug refused: ${(err as Error).message}`);
  }
  return { entries, bytes };
}
