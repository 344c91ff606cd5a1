/**
 * Builds and buildpacks in the Platform API, Heroku's shapes:
 *   GET /apps/:app/builds                   newest last, as `heroku builds`
 *   POST /apps/:app/builds                  {"source_blob": {"url", "checksum", "version"}, "buildpacks": [{"url"}]}
 *   GET /apps/:app/builds/:id               info (status pending|succeeded|failed, slug, release)
 *   GET /apps/:app/builds/:id/output        text/plain; follows a running build to its end
 *   GET /apps/:app/buildpack-installations  the app's buildpacks in detection order
 *   PUT /apps/:app/buildpack-installations  {"updates": [{"buildpack": "heroku/nodejs"}, ...]}
 * A build's output lives on the control instance that ran it; another instance
 * fetches it from there with the caller's own credentials.
 */
import { createReadStream, existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { EntryOf } from '../../cluster/client.ts';
import { retryTxn } from '../../cluster/retry-txn.ts';
import type { App, Build } from '../../cluster/records.ts';
import type { ControlContext } from '../context.ts';
import { appNotFound, conflict, invalid, notFound } from '../errors.ts';
import type { ApiRouter } from '../api/router.ts';
import type { Builder } from './builder.ts';
import { builtinName, buildpackRefProblem } from './buildpacks.ts';
import { getBuild, listBuilds } from './records.ts';
import { tarballProblem } from './source.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function buildpackJson(url: string) {
  const b = builtinName(url);
  return { url, name: b ? `heroku/${b}` : url };
}

export function buildJson(ctx: ControlContext, b: Build) {
  const base = ctx.advertiseUrl.replace(/\/$/, '');
  return {
    id: b.id,
    app: { name: b.app },
    status: b.status,
    buildpacks: b.buildpack ? b.buildpack.split(',').map(buildpackJson) : [],
    created_at: iso(b.createdAt),
    updated_at: iso(b.finishedAt ?? b.createdAt),
    output_stream_url: `${base}/apps/${b.app}/builds/${b.id}/output`,
    release: b.release === null ? null : { version: b.release },
    slug: b.slug ? { id: b.slug.id, checksum: `SHA256:${b.slug.sha256}`, size: b.slug.size } : null,
    source_blob: { version: b.commit, ref: b.ref ?? null },
    user: { email: b.user },
    failure_message: b.error ?? null,
  };
}

async function appEntry(ctx: ControlContext, name: string): Promise<EntryOf<'app'>> {
  const e = await ctx.cluster.get(ctx.cluster.keys.app(name));
  if (!e) throw appNotFound(name);
  return e;
}

const installations = (app: App) => app.buildpacks.map((url, i) => ({ ordinal: i, buildpack: buildpackJson(url) }));

export function buildRoutes(r: ApiRouter, ctx: ControlContext, builder: Builder, selfId: string): void {
  r.get('/apps/:app/builds', async (c) => {
    await appEntry(ctx, c.params.app!);
    return { body: (await listBuilds(ctx.cluster, c.params.app!)).map((e) => buildJson(ctx, e.value)) };
  });

  r.get('/apps/:app/builds/:id', async (c) => {
    await appEntry(ctx, c.params.app!);
    const b = await getBuild(ctx.cluster, c.params.app!, c.params.id!);
    if (!b) throw notFound(`no build ${c.params.id} for ${c.params.app}; list them with \`dynomesh builds -a ${c.params.app}\``);
    return { body: buildJson(ctx, b) };
  });

  r.get('/apps/:app/builds/:id/output', async (c) => {
    await appEntry(ctx, c.params.app!);
    const b = await getBuild(ctx.cluster, c.params.app!, c.params.id!);
    if (!b) throw notFound(`no build ${c.params.id} for ${c.params.app}`);
    const head = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };
    const live = builder.liveOutput(b.id);
    if (live) {
      c.res.writeHead(200, head);
      await new Promise<void>((resolve) => {
        const stop = live.follow((chunk) => {
          if (chunk === null) {
            c.res.end();
            return resolve();
          }
          c.res.write(chunk);
        });
        c.res.on('close', () => {
          stop();
          resolve();
        });
      });
      return undefined;
    }
    const file = builder.outputPath(b.app, b.id);
    if ((b.control === undefined || b.control === selfId) && existsSync(file)) {
      c.res.writeHead(200, head);
      await pipeline(createReadStream(file), c.res).catch(() => undefined);
      return undefined;
    }
    if (b.control && b.control !== selfId) {
      const member = await ctx.cluster.get(ctx.cluster.keys.member(b.control));
      if (member && c.url.searchParams.get('local') !== '1') {
        const res = await fetch(`${member.value.api.replace(/\/$/, '')}/apps/${b.app}/builds/${b.id}/output?local=1`, {
          headers: { authorization: c.req.headers.authorization ?? '' },
        }).catch(() => undefined);
        if (res?.status === 200 && res.body) {
          c.res.writeHead(200, head);
          await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), c.res).catch(() => undefined);
          return undefined;
        }
      }
      throw notFound(`the output of build ${b.id} is kept by control instance ${b.control}, which is not reachable now`);
    }
    throw notFound(`the output of build ${b.id} is no longer kept`);
  });

  // Heroku's builds:create: build a source tarball from a URL; answers once the build runs, output at output_stream_url.
  r.post('/apps/:app/builds', async (c) => {
    const body = (await c.body()) as { source_blob?: { url?: unknown; checksum?: unknown; version?: unknown }; buildpacks?: unknown };
    if (body === null || typeof body !== 'object' || typeof body.source_blob !== 'object' || body.source_blob === null) {
      throw invalid('expected {"source_blob": {"url": "https://.../app.tar.gz", "checksum": "SHA256:...", "version": "v1"}}');
    }
    const problem = tarballProblem(body.source_blob);
    if (problem) throw invalid(problem);
    let buildpacks: string[] | undefined;
    if (body.buildpacks !== undefined && body.buildpacks !== null) {
      if (!Array.isArray(body.buildpacks)) throw invalid('"buildpacks" must be a list such as [{"url": "heroku/nodejs"}]');
      buildpacks = body.buildpacks.map((b: unknown) => (typeof b === 'string' ? b : ((b as { url?: string; name?: string })?.url ?? (b as { name?: string })?.name)) as string);
      for (const [i, ref] of buildpacks.entries()) {
        const p = buildpackRefProblem(ref, ctx.buildpackDir);
        if (p) throw invalid(`buildpacks[${i}]: ${p}`);
      }
    }
    await appEntry(ctx, c.params.app!);
    const blob = body.source_blob as { url: string; checksum?: string | null; version?: string | null };
    let refusal = '';
    let started = false;
    const build = await new Promise<Build | undefined>((resolve) => {
      void builder.run({
        app: c.params.app!,
        source: { kind: 'tarball', url: blob.url, ...(blob.checksum ? { checksum: blob.checksum } : {}), ...(blob.version ? { version: blob.version } : {}) },
        version: blob.version ?? '',
        user: c.token?.user ?? 'unknown',
        ...(buildpacks?.length ? { buildpacks } : {}),
        out: (b) => {
          if (!started) refusal += b.toString();
        },
        onStarted: (b) => {
          started = true;
          resolve({ ...b });
        },
      }).then(() => resolve(undefined), () => resolve(undefined));
    });
    if (!build) throw conflict(refusal.replace(/^\s*!\s*/, '').trim() || 'the build could not start; try again');
    return { status: 201, body: buildJson(ctx, build) };
  });

  r.get('/apps/:app/buildpack-installations', async (c) => ({ body: installations((await appEntry(ctx, c.params.app!)).value) }));

  r.put('/apps/:app/buildpack-installations', async (c) => {
    const body = (await c.body()) as { updates?: unknown };
    if (body === null || typeof body !== 'object' || !Array.isArray(body.updates)) {
      throw invalid('expected {"updates": [{"buildpack": "heroku/nodejs"}, ...]} (an empty list restores detection among the built-ins)');
    }
    const refs = body.updates.map((u: unknown) => (typeof u === 'string' ? u : (u as { buildpack?: unknown })?.buildpack));
    if (refs.length > 10) throw invalid('an app can have at most 10 buildpacks');
    for (const [i, ref] of refs.entries()) {
      const problem = buildpackRefProblem(ref as string, ctx.buildpackDir);
      if (problem) throw invalid(`updates[${i}]: ${problem}`);
    }
    const list = (refs as string[]).map((s) => s.trim());
    // keys: apps/{app}; compare: its mod revision is what we read; result: the app with `buildpacks` replaced.
    const next = await retryTxn(ctx.cluster, `${c.params.app} changed concurrently; try again`, async () => {
      const e = await appEntry(ctx, c.params.app!);
      const next: App = { ...e.value, buildpacks: list };
      const k = ctx.cluster.keys.app(next.name);
      return { compares: [{ key: k, target: 'mod', op: '==', value: e.modRevision }], ops: [{ put: k, value: ctx.cluster.value(k, next) }], result: next };
    });
    ctx.log.info({ app: next.name, buildpacks: list, user: c.token?.user }, 'buildpacks-set');
    return { body: installations(next) };
  });
}
