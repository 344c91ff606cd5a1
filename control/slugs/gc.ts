/**
 * Slug garbage: a slug is kept while any release of any app names it. Destroy
 * sweeps the app's slugs at once; `sweepSlugs()` with no list checks every slug
 * this store holds that is older than `minAgeMs` (so a build's fresh slug,
 * stored just before its release is written, is never swept).
 */
import type { EntryOf } from '../../cluster/client.ts';
import type { ControlContext } from '../context.ts';

export async function referencedSlugs(ctx: Pick<ControlContext, 'cluster'>): Promise<Set<string>> {
  const k = ctx.cluster.keys;
  const apps = await ctx.cluster.list(k.apps());
  const used = new Set<string>();
  for (const a of apps.entries as EntryOf<'app'>[]) {
    const rels = await ctx.cluster.list(k.releases(a.value.name));
    for (const r of rels.entries) if (r.kind === 'release' && r.value.slug) used.add(r.value.slug.sha256);
  }
  return used;
}

/** Deletes the given (or all old enough) slugs that no release references. Returns what was deleted. */
export async function sweepSlugs(ctx: Pick<ControlContext, 'cluster' | 'slugs' | 'log'>, only?: string[], minAgeMs = 3_600_000): Promise<string[]> {
  const candidates = only ?? (await ctx.slugs.list()).filter((s) => Date.now() - s.mtimeMs > minAgeMs).map((s) => s.sha256);
  if (candidates.length === 0) return [];
  const used = await referencedSlugs(ctx);
  const deleted: string[] = [];
  for (const sha of candidates) {
    if (used.has(sha)) continue;
    if (await ctx.slugs.delete(sha)) deleted.push(sha);
  }
  if (deleted.length) ctx.log.info({ slugs: deleted.length }, 'slugs-swept');
  return deleted;
}
