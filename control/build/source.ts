/**
 * Where a build's files come from: the pushed commit (`git archive`, see
 * checkout.ts) or, for `POST /apps/:app/builds`, a source tarball at a URL as
 * Heroku's Build API takes it (`source_blob: {url, checksum: "SHA256:<hex>", version}`).
 * A tarball whose entries all sit under one top-level directory (GitHub's
 * archives) is unpacked from inside it. Links that leave the build dir, device
 * files and absolute paths are refused, by the same guard as slugs
 * (lib/tar-guard.ts). The URL is the tenant's: it is fetched through the
 * outbound guard (lib/egress.ts), every redirect checked.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { strictEgress, type Egress } from '../../lib/egress.ts';
import { entryProblem, escapingLinks } from '../../lib/tar-guard.ts';
import { checkout } from './checkout.ts';

export interface GitSource {
  kind: 'git';
  repoDir: string;
  commit: string;
  /** receive-pack's quarantine variables, so the new objects are visible. */
  gitEnv: Record<string, string>;
}

export interface TarballSource {
  kind: 'tarball';
  url: string;
  /** `SHA256:<hex>`; the download must match it. */
  checksum?: string;
  /** Shown as the build's source version (a commit id, a tag). */
  version?: string;
}

export type BuildSource = GitSource | TarballSource;

export const MAX_SOURCE_BYTES = 1024 * 1024 * 1024; // Heroku caps a checkout at 1 GB

export class SourceError extends Error {
  override name = 'SourceError';
}

/** Why a source_blob cannot be built, or undefined (checked before a build is created). */
export function tarballProblem(s: { url?: unknown; checksum?: unknown; version?: unknown }): string | undefined {
  if (typeof s.url !== 'string') return 'source_blob.url is required: an http(s) URL of a .tar.gz of the app';
  let u: URL;
  try {
    u = new URL(s.url);
  } catch {
    return `source_blob.url ${JSON.stringify(s.url)} is not a URL`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'source_blob.url must be an http or https URL';
  if (s.checksum !== undefined && s.checksum !== null && (typeof s.checksum !== 'string' || !/^SHA256:[0-9a-f]{64}$/i.test(s.checksum))) {
    return 'source_blob.checksum must look like "SHA256:<64 hex digits>"';
  }
  if (s.version !== undefined && s.version !== null && (typeof s.version !== 'string' || s.version.length > 200)) return 'source_blob.version must be a short string';
  return undefined;
}

async function download(src: TarballSource, file: string, signal: AbortSignal, egress: Egress): Promise<string> {
  const res = await egress.fetch(src.url, { signal }, 'source_blob.url').catch((err: Error) => {
    if (err.name === 'EgressRefused') throw new SourceError(err.message);
    throw new SourceError(`could not download the source tarball: ${(err.cause as Error | undefined)?.message ?? err.message}`);
  });
  if (res.status !== 200 || !res.body) throw new SourceError(`downloading the source tarball answered HTTP ${res.status}`);
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      size += chunk.length;
      if (size > MAX_SOURCE_BYTES) return cb(new SourceError('the source tarball is over 1 GB'));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), meter, createWriteStream(file));
  const sha = hash.digest('hex');
  if (src.checksum && src.checksum.slice(7).toLowerCase() !== sha) {
    throw new SourceError(`the source tarball's sha256 is ${sha}, not the ${src.checksum.slice(7).toLowerCase()} given in source_blob.checksum`);
  }
  return sha;
}

async function unpackTarball(file: string, dest: string): Promise<void> {
  const tops = new Set<string>();
  let problem: string | undefined;
  let onlyDirsAtTop = true;
  await tar.t({
    file, strict: true,
    onReadEntry: (e) => {
      problem ??= entryProblem(e.path, e.type, e.linkpath);
      const parts = e.path.replace(/^\.\//, '').split('/').filter(Boolean);
      if (parts[0]) tops.add(parts[0]);
      if (parts.length === 1 && e.type !== 'Directory') onlyDirsAtTop = false;
    },
  }).catch((err: Error) => {
    throw new SourceError(`the source is not a readable tar.gz: ${err.message}`);
  });
  if (problem) throw new SourceError(`the source tarball was refused: ${problem}`);
  const strip = tops.size === 1 && onlyDirsAtTop ? 1 : 0;
  await mkdir(dest, { recursive: true });
  await tar.x({
    file, cwd: dest, strict: true, strip, preservePaths: false, preserveOwner: false,
    filter: (path, e) => entryProblem(path, (e as tar.ReadEntry).type ?? 'File', (e as tar.ReadEntry).linkpath) === undefined,
  });
  // Links that are innocent one by one can escape once chained: checked on the unpacked tree.
  const bad = await escapingLinks(await realpath(dest));
  if (bad.length) throw new SourceError(`the source tarball was refused: links leave the app dir: ${bad.slice(0, 5).join(', ')}`);
}

/** Puts the source's files into `dest`; returns the version to record (commit id, or the tarball's). */
export async function fetchSource(source: BuildSource, dest: string, scratch: string, signal: AbortSignal, egress: Egress = strictEgress()): Promise<void> {
  if (source.kind === 'git') return checkout(source.repoDir, source.commit, dest, source.gitEnv, signal);
  const file = join(scratch, 'source.tar.gz');
  await download(source, file, signal, egress);
  await unpackTarball(file, dest);
}
