/**
 * The slug store: content-addressed gzip tarballs, named by their sha256.
 * `SlugStore` is the interface builds and the slug route use, so an
 * S3-compatible store can replace the directory one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface StoredSlug {
  sha256: string;
  size: number;
}

export interface SlugStore {
  /** Stores a slug from a stream; rejects with SlugTooLargeError past `maxBytes`. */
  put(src: Readable, opts?: { maxBytes?: number }): Promise<StoredSlug>;
  /** A stream of the slug, or undefined when this store does not hold it. */
  get(sha256: string): Promise<{ stream: Readable; size: number } | undefined>;
  has(sha256: string): Promise<boolean>;
  /** True when something was deleted. */
  delete(sha256: string): Promise<boolean>;
  list(): Promise<(StoredSlug & { mtimeMs: number })[]>;
}

export const isSha256 = (s: string): boolean => /^[0-9a-f]{64}$/.test(s);

export class SlugTooLargeError extends Error {
  override name = 'SlugTooLargeError';
  constructor(readonly limit: number) {
    super(`slug is larger than the ${Math.round(limit / 1024 / 1024)} MB limit; add large files to .slugignore`);
  }
}

/** Slugs as `<dir>/<sha256>.tgz`, written to a temp file and renamed, so a reader never sees a partial slug. */
export class DirSlugStore implements SlugStore {
  constructor(readonly dir: string) {}

  private path(sha256: string): string {
    if (!isSha256(sha256)) throw new Error(`invalid slug id ${JSON.stringify(sha256)}`);
    return join(this.dir, `${sha256}.tgz`);
  }

  async put(src: Readable, opts: { maxBytes?: number } = {}): Promise<StoredSlug> {
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.incoming-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const limit = opts.maxBytes ?? Infinity;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > limit) return cb(new SlugTooLargeError(limit));
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(src, meter, createWriteStream(tmp, { mode: 0o600 }));
      const sha256 = hash.digest('hex');
      await rename(tmp, this.path(sha256));
      return { sha256, size };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async get(sha256: string) {
    if (!isSha256(sha256)) return undefined;
    try {
      const st = await stat(this.path(sha256));
      return { stream: createReadStream(this.path(sha256)) as Readable, size: st.size };
    } catch {
      return undefined;
    }
  }

  async has(sha256: string): Promise<boolean> {
    if (!isSha256(sha256)) return false;
    return stat(this.path(sha256)).then(() => true, () => false);
  }

  async delete(sha256: string): Promise<boolean> {
    if (!(await this.has(sha256))) return false;
    await rm(this.path(sha256), { force: true });
    return true;
  }

  async list() {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: (StoredSlug & { mtimeMs: number })[] = [];
    for (const n of names) {
      const m = /^([0-9a-f]{64})\.tgz$/.exec(n);
      if (!m) continue;
      const st = await stat(join(this.dir, n)).catch(() => undefined);
      if (st) out.push({ sha256: m[1]!, size: st.size, mtimeMs: st.mtimeMs });
    }
    return out;
  }
}
