/** /apps/:app/formation: list, batch update, per-type info and update. */
import type { ControlContext } from '../../context.ts';
import { notFound } from '../../errors.ts';
import { listFormation, parseUpdates, updateFormation } from '../../formation.ts';
import { formationJson } from '../present.ts';
import type { ApiRouter } from '../router.ts';

export function formationRoutes(r: ApiRouter, ctx: ControlContext): void {
  r.get('/apps/:app/formation', async (c) => ({
    body: (await listFormation(ctx.cluster, c.params.app!)).map((f) => formationJson(c.params.app!, f)),
  }));

  r.patch('/apps/:app/formation', async (c) => {
    const updates = parseUpdates(await c.body());
    const list = await updateFormation(ctx.cluster, c.params.app!, updates);
    ctx.log.info({ app: c.params.app, updates, user: c.token!.user }, 'formation-changed');
    ctx.events?.scaled(c.params.app!, list, c.token!.user);
    const changed = new Set(updates.map((u) => u.type));
    return { body: list.filter((f) => changed.has(f.type)).map((f) => formationJson(c.params.app!, f)) };
  });

  r.get('/apps/:app/formation/:type', async (c) => {
    const f = (await listFormation(ctx.cluster, c.params.app!)).find((x) => x.type === c.params.type);
    if (!f) throw notFound(`process type ${c.params.type} is not in the current release of ${c.params.app}`);
    return { body: formationJson(c.params.app!, f) };
  });

  r.patch('/apps/:app/formation/:type', async (c) => {
    const updates = parseUpdates(await c.body(), c.params.type!);
    const list = await updateFormation(ctx.cluster, c.params.app!, updates);
    ctx.log.info({ app: c.params.app, updates, user: c.token!.user }, 'formation-changed');
    ctx.events?.scaled(c.params.app!, list, c.token!.user);
    return { body: formationJson(c.params.app!, list.find((f) => f.type === c.params.type)!) };
  });
}
