/**
 * What dyno-nodes fetch from a control (requests signed with their credential),
 * each limited to the releases placed on the asking node (node-access.ts):
 *
 *   GET /internal/slugs/:sha256             a slug; other controls ask too (peer token)
 *   GET /internal/releases/:app/:version    process types, slug and config sealed for the node
 *
 * A slug this instance does not hold is fetched once from the other control
 * members and kept, so a node can ask any member. A node asking for what is not
 * placed on it gets the same 404 as for what does not exist.
 */
import type { EntryOf } from '../../../cluster/client.ts';
import type { ControlContext } from '../../context.ts';
import { notFound } from '../../errors.ts';
import { isAppName } from '../../../cluster/names.ts';
import { isSha256 } from '../../slugs/store.ts';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ApiRouter } from '../router.ts';
import { NodeAccess } from '../../node-access.ts';

async function fetchFromPeers(ctx: ControlContext, sha: string, peerToken: string, selfId: string): Promise<boolean> {
  const members = await ctx.cluster.list(ctx.cluster.keys.members());
  for (const m of members.entries as EntryOf<'member'>[]) {
    if (m.value.id === selfId) continue;
    try {
      const res = await fetch(`${m.value.api.replace(/\/$/, '')}/internal/slugs/${sha}?local=1`, {
        headers: { authorization: `Bearer ${peerToken}` },
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

export function slugRoutes(r: ApiRouter, ctx: ControlContext, peerToken: string, selfId: string): void {
  const access = new NodeAccess(ctx);
  r.get('/internal/releases/:app/:version', async (c) => {
    const { app, version } = c.params as { app: string; version: string };
    const v = /^[1-9]\d{0,9}$/.test(version) ? Number(version) : 0;
    const rel = c.node && isAppName(app) && v ? await access.release(c.node, app, v) : undefined;
    if (!rel) {
      c.log.warn({ node: c.node, app, version }, 'node-release-refused');
      throw notFound(`release v${version} of ${app} is not placed on node ${c.node ?? '?'}`);
    }
    return { body: rel };
  });

  r.get('/internal/slugs/:sha', async (c) => {
    const sha = c.params.sha!;
    if (!isSha256(sha)) throw notFound(`${sha} is not a slug id (64 hex characters)`);
    if (c.node && !(await access.maySlug(c.node, sha))) {
      c.log.warn({ node: c.node, slug: sha }, 'node-slug-refused');
      throw notFound(`slug ${sha} is not used by a release placed on node ${c.node}`);
    }
    let slug = await ctx.slugs.get(sha);
    if (!slug && c.url.searchParams.get('local') !== '1' && (await fetchFromPeers(ctx, sha, peerToken, selfId))) slug = await ctx.slugs.get(sha);
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
