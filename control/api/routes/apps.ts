/** /apps: create, list, info, maintenance and routing settings (PATCH), destroy. */
import { visibleApps } from '../../access/members.ts';
import { createApp, destroyApp, parseRouting, updateRouting } from '../../apps.ts';
import type { ControlContext } from '../../context.ts';
import { appNotFound, invalid } from '../../errors.ts';
import { sweepSlugs } from '../../slugs/gc.ts';
import { appJson } from '../present.ts';
import type { ApiRouter } from '../router.ts';

async function info(ctx: ControlContext, name: string) {
  const k = ctx.cluster.keys;
  const [a, routing, cur] = await Promise.all([ctx.cluster.get(k.app(name)), ctx.cluster.get(k.routingApp(name)), ctx.cluster.get(k.current(name))]);
  if (!a) throw appNotFound(name);
  const release = cur ? (await ctx.cluster.get(k.release(name, cur.value.version)))?.value : undefined;
  return appJson(ctx, a.value, routing?.value, release);
}

export function appRoutes(r: ApiRouter, ctx: ControlContext): void {
  // Only the apps the caller owns or collaborates on (every app for an admin), as Heroku's `apps`.
  r.get('/apps', async (c) => {
    const names = await visibleApps(ctx.cluster, c.principal!);
    return { body: await Promise.all(names.map((n) => info(ctx, n).catch(() => undefined))).then((l) => l.filter(Boolean)) };
  });

  r.post('/apps', async (c) => {
    const body = (await c.body()) as { name?: unknown };
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('expected a JSON object such as {"name": "my-app"}');
    if (body.name !== undefined && body.name !== null && typeof body.name !== 'string') throw invalid('"name" must be a string');
    const name = typeof body.name === 'string' && body.name !== '' ? body.name : undefined;
    const { app } = await createApp(ctx, name, c.principal!.user.email);
    ctx.log.info({ app: app.name, user: c.token!.user }, 'app-created');
    return { status: 201, body: await info(ctx, app.name) };
  });

  r.get('/apps/:app', async (c) => ({ body: await info(ctx, c.params.app!) }));

  r.patch('/apps/:app', async (c) => {
    const body = (await c.body()) as Record<string, unknown>;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('expected a JSON object such as {"maintenance": true}');
    if (body.name !== undefined && body.name !== c.params.app) throw invalid('renaming apps is not supported; create a new app instead');
    if (body.maintenance === undefined && body.routing === undefined) {
      throw invalid('nothing to change: send {"maintenance": true|false} and/or {"routing": {"affinity": "ip", "balance_factor": 1.25}}');
    }
    if (body.maintenance !== undefined && typeof body.maintenance !== 'boolean') throw invalid('"maintenance" must be true or false');
    const patch = {
      ...(body.routing !== undefined ? parseRouting(body.routing) : {}),
      ...(body.maintenance !== undefined ? { maintenance: body.maintenance as boolean } : {}),
    };
    const routing = await updateRouting(ctx.cluster, c.params.app!, patch);
    ctx.log.info({ app: c.params.app, maintenance: routing.maintenance, affinity: routing.affinity, balanceFactor: routing.balanceFactor, user: c.token!.user }, 'app-routing-changed');
    return { body: await info(ctx, c.params.app!) };
  });

  r.delete('/apps/:app', async (c) => {
    const before = await info(ctx, c.params.app!);
    for (const hook of ctx.beforeAppDestroy ?? []) await hook(c.params.app!);
    const { slugs } = await destroyApp(ctx.cluster, c.params.app!);
    ctx.log.info({ app: c.params.app, user: c.token!.user }, 'app-destroyed');
    await sweepSlugs(ctx, slugs).catch((err) => ctx.log.warn({ err: (err as Error).message }, 'slug-sweep-failed'));
    return { body: before };
  });
}
