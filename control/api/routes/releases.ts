/** /apps/:app/releases: list, info, the config vars of a release, and rollback (POST {release}). */
import type { EntryOf } from '../../../cluster/client.ts';
import type { Release } from '../../../cluster/records.ts';
import { unseal } from '../../../cluster/sealed.ts';
import type { ControlContext } from '../../context.ts';
import { appNotFound, invalid, notFound } from '../../errors.ts';
import { findRelease, rollback } from '../../releases.ts';
import { releaseJson } from '../present.ts';
import type { ApiRouter } from '../router.ts';

async function currentVersion(ctx: ControlContext, app: string): Promise<number | undefined> {
  const [a, cur] = await Promise.all([ctx.cluster.get(ctx.cluster.keys.app(app)), ctx.cluster.get(ctx.cluster.keys.current(app))]);
  if (!a) throw appNotFound(app);
  return cur?.value.version;
}

async function one(ctx: ControlContext, app: string, ref: string): Promise<Release> {
  const rel = await findRelease(ctx.cluster, app, ref);
  if (!rel) throw notFound(`release ${ref} of ${app} does not exist; list them with \`dynomesh releases -a ${app}\``);
  return rel;
}

export function releaseRoutes(r: ApiRouter, ctx: ControlContext): void {
  r.get('/apps/:app/releases', async (c) => {
    const app = c.params.app!;
    const cur = await currentVersion(ctx, app);
    const all = await ctx.cluster.list(ctx.cluster.keys.releases(app));
    const list = (all.entries as EntryOf<'release'>[]).map((e) => e.value).sort((x, y) => x.version - y.version);
    return { body: list.map((rel) => releaseJson(rel, cur)) };
  });

  r.get('/apps/:app/releases/:ref', async (c) => {
    const cur = await currentVersion(ctx, c.params.app!);
    return { body: releaseJson(await one(ctx, c.params.app!, c.params.ref!), cur) };
  });

  r.get('/apps/:app/releases/:ref/config-vars', async (c) => {
    await currentVersion(ctx, c.params.app!);
    return { body: unseal(ctx.clusterKey, (await one(ctx, c.params.app!, c.params.ref!)).config) };
  });

  /** What the release command printed (the last 64 KB), and whether it has finished: `releases:output` polls it. */
  r.get('/apps/:app/releases/:ref/output', async (c) => {
    await currentVersion(ctx, c.params.app!);
    const rel = await one(ctx, c.params.app!, c.params.ref!);
    const out = (await ctx.cluster.get(ctx.cluster.keys.releaseOutput(rel.app, rel.version)))?.value;
    if (!rel.phase) throw notFound(`v${rel.version} of ${rel.app} ran no release command (its processes have no \`release\` type)`);
    return {
      body: {
        version: rel.version,
        status: rel.status ?? 'succeeded',
        output: out?.output ?? '',
        truncated_bytes: out?.truncated ?? 0,
        finished: rel.status !== 'pending',
        exit_code: rel.phase.exitCode ?? null,
        error: rel.phase.error ?? null,
      },
    };
  });

  r.post('/apps/:app/releases', async (c) => {
    const body = (await c.body()) as { release?: unknown };
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('expected {"release": "<id or version>"} to roll back');
    const ref = body.release;
    if ((typeof ref !== 'string' || ref === '') && typeof ref !== 'number') {
      throw invalid('expected {"release": "<id or version>"}; new releases from code come from `git push`');
    }
    const rel = await rollback(ctx, c.params.app!, ref, c.token!.user);
    ctx.log.info({ app: c.params.app, version: rel.version, description: rel.description, user: c.token!.user }, 'release-created');
    const cur = await currentVersion(ctx, c.params.app!);
    return { status: 201, body: releaseJson(rel, cur) };
  });
}
