/**
 * GET /internal/slugs/:sha256 for dyno-nodes (node token). A slug this instance
 * does not hold is fetched once from the other control members and kept, so a
 * node can ask any member.
 */
import type { EntryOf } from '../../../cluster/client.ts';
import type { ControlContext } from '../../context.ts';
import { notFound } from '../../errors.ts';
import { isSha256 } from '../../slugs/store.ts';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ApiRouter } from '../router.ts';

async function fetchFromPeers(ctx: ControlContext, sha: string, nodeToken: string, selfId: string): Promise<boolean> {
  const members = await ctx.cluster.list(ctx.cluster.keys.members());
  for (const m of members.entries as EntryOf<'member'>[]) {
    if (m.value.id === selfId) continue;
    try {
      const res = await fetch(`${m.value.api.replace(/\/$/, '')}/internal/slugs/${sha}?local=1`, {
        headers: { authorization: `Bearer ${nodeToken}` },
        signal: AbortSignal.timeout(60_000),
      });
      if (res.status !== 200 || !res.body) continue;
      const stored = await ctx.slugs.put(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream));
      if (stored.sha256 === sha) return true;
      await ctx.slugs.delete(stored.sha256); // a peer served bytes that do not match their name
    } catch (err) {
      ctx.log.warn({ member: m.value.id, slug: sha, err: (err as Error).message }, 'slug-peer-fetch-failed');
    }
  }
  return false;
}

export function slugRoutes(r: ApiRouter, ctx: ControlContext, nodeToken: string, selfId: string): void {
  r.get('/internal/slugs/:sha', async (c) => {
    const sha = c.params.sha!;
    if (!isSha256(sha)) throw notFound(`${sha} is not a slug id (64 hex characters)`);
    let slug = await ctx.slugs.get(sha);
    if (!slug && c.url.searchParams.get('local') !== '1' && (await fetchFromPeers(ctx, sha, nodeToken, selfId))) slug = await ctx.slugs.get(sha);
    if (!slug) throw notFound(`slug ${sha} is not in the slug store`);
    c.res.writeHead(200, {
      'content-type': 'application/gzip',
      'content-length': String(slug.size),
      etag: `"${sha}"`,
      'cache-control': 'private, max-age=31536000, immutable',
    });
    if (c.req.method === 'HEAD') {
      slug.stream.destroy();
      c.res.end();
      return undefined;
    }
    await pipeline(slug.stream, c.res).catch(() => undefined);
    return undefined;
  });
}
