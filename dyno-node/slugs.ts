/**
 * Slug cache: fetches a release's slug from the slug store (any control member
 * found under `keys.members()`, the request signed with this node's credential;
 * a control serves only slugs of releases placed here), verifies its sha256 and keeps it on disk by
 * hash, so every dyno of a release on this host shares one download.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import type { Cluster } from '../cluster/client.ts';
import type { Slug } from '../cluster/records.ts';
import type { Logger } from '../lib/log.ts';
import type { SlugPool } from './slug-pool.ts';

export class SlugFetchError extends Error {
  override name = 'SlugFetchError';
}

const SHA = /^[0-9a-f]{64}$/;

export class SlugCache {
  private readonly inflight = new Map<string, Promise<string>>();
  /** Called after a new slug lands in the cache (the node record lists cached slugs). */
  onCached: (sha: string) => void = () => undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly dir: string,
    /** Signs a request to a control with this node's credential: (method, path) -> Authorization. */
    private readonly sign: (method: string, path: string) => string,
    private readonly pool: SlugPool,
    private readonly log: Logger,
    private readonly fetchTimeoutMs = 120_000,
  ) {}

  pathOf(sha: string): string {
    return `${this.dir}/${sha}.tgz`;
  }

  async cached(): Promise<string[]> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    return (await readdir(this.dir)).filter((f) => /^[0-9a-f]{64}\.tgz$/.test(f)).map((f) => f.slice(0, 64));
  }

  /** Path of the verified slug file, downloading it once however many dynos ask at the same time. */
  get(slug: Slug): Promise<string> {
    if (!SHA.test(slug.sha256)) return Promise.reject(new SlugFetchError(`release names slug sha256 ${JSON.stringify(slug.sha256)}, not 64 hex characters`));
    let p = this.inflight.get(slug.sha256);
    if (!p) {
      p = this.load(slug).finally(() => this.inflight.delete(slug.sha256));
      this.inflight.set(slug.sha256, p);
    }
    return p;
  }

  private async load(slug: Slug): Promise<string> {
    const file = this.pathOf(slug.sha256);
    if (await stat(file).then(() => true, () => false)) return file;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const { entries } = await this.cluster.list(this.cluster.keys.members());
    if (entries.length === 0) throw new SlugFetchError('no control member is registered in etcd to fetch slugs from');
    // Random order spreads a fleet's downloads over the members.
    const members = entries.map((e) => e.value).sort(() => Math.random() - 0.5);
    const errors: string[] = [];
    for (const m of members) {
      const tmp = `${this.dir}/.${slug.sha256}.${randomBytes(4).toString('hex')}.part`;
      try {
        await this.download(m.api, slug.sha256, tmp);
        const got = await this.pool.hash(tmp);
        if (got !== slug.sha256) throw new SlugFetchError(`sha256 mismatch: got ${got}`);
        await rename(tmp, file);
        this.log.info({ slug: slug.sha256, member: m.id, size: (await stat(file)).size }, 'slug-cached');
        this.onCached(slug.sha256);
        return file;
      } catch (err) {
        await rm(tmp, { force: true });
        errors.push(`${m.api}: ${(err as Error).message}`);
        this.log.warn({ slug: slug.sha256, member: m.id, err: (err as Error).message }, 'slug-fetch-failed');
      }
    }
    throw new SlugFetchError(`could not fetch slug ${slug.sha256}: ${errors.join('; ')}`);
  }

  private async download(api: string, sha: string, to: string): Promise<void> {
    const path = `/internal/slugs/${sha}`;
    const url = `${api.replace(/\/+$/, '')}${path}`;
    const res = await request(url, {
      headers: { authorization: this.sign('GET', path) },
      headersTimeout: 10_000,
      bodyTimeout: this.fetchTimeoutMs,
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new SlugFetchError(`GET ${url} answered ${res.statusCode}`);
    }
    await pipeline(res.body, createWriteStream(to, { mode: 0o600 }));
  }

  /** Drop cached slugs not in `keep` (called by the agent with the slugs of desired releases). */
  async prune(keep: Set<string>): Promise<void> {
    for (const sha of await this.cached()) {
      if (!keep.has(sha) && !this.inflight.has(sha)) await rm(this.pathOf(sha), { force: true });
    }
  }
}
