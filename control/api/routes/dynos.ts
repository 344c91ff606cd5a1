/** /apps/:app/dynos: list, info, one-off create (POST), restart all/one (DELETE), stop one (POST .../actions/stop). */
import type { ControlContext } from '../../context.ts';
import { listDynos, restartDynos, stopDynos } from '../../dynos.ts';
import { notFound } from '../../errors.ts';
import { parseOneOff, runOneOff } from '../../one-off.ts';
import { dynoJson } from '../present.ts';
import type { ApiRouter } from '../router.ts';

export function dynoRoutes(r: ApiRouter, ctx: ControlContext): void {
  r.get('/apps/:app/dynos', async (c) => ({ body: (await listDynos(ctx.cluster, c.params.app!)).map((d) => dynoJson(c.params.app!, d)) }));

  r.post('/apps/:app/dynos', async (c) => {
    const req = parseOneOff(await c.body());
    const { node, placement } = await runOneOff(ctx.cluster, c.params.app!, req);
    ctx.log.info({ app: c.params.app, dyno: placement.dyno, node, attach: req.attach, user: c.token!.user }, 'one-off-created');
    const attachUrl = req.attach ? `${ctx.advertiseUrl.replace(/^http/, 'ws')}/apps/${c.params.app}/dynos/${placement.dyno}/attach` : null;
    const body = {
      ...dynoJson(c.params.app!, {
        name: placement.dyno, type: placement.type, state: 'starting', release: placement.release, size: placement.size,
        command: placement.command ?? null, node, host: null, since: placement.createdAt, restarts: 0, createdAt: placement.createdAt, message: '',
      }),
      attach_url: attachUrl,
    };
    return { status: 201, body };
  });

  r.get('/apps/:app/dynos/:dyno', async (c) => {
    const d = (await listDynos(ctx.cluster, c.params.app!)).find((x) => x.name === c.params.dyno);
    if (!d) throw notFound(`no dyno ${c.params.dyno} in ${c.params.app}`);
    return { body: dynoJson(c.params.app!, d) };
  });

  r.delete('/apps/:app/dynos', async (c) => {
    const n = await restartDynos(ctx.cluster, c.params.app!);
    ctx.log.info({ app: c.params.app, dynos: n, user: c.token!.user }, 'dynos-restarted');
    return { status: 202, body: { restarted: n } };
  });

  r.delete('/apps/:app/dynos/:dyno', async (c) => {
    const n = await restartDynos(ctx.cluster, c.params.app!, c.params.dyno!);
    ctx.log.info({ app: c.params.app, dyno: c.params.dyno, dynos: n, user: c.token!.user }, 'dynos-restarted');
    return { status: 202, body: { restarted: n } };
  });

  r.post('/apps/:app/dynos/:dyno/actions/stop', async (c) => {
    const n = await stopDynos(ctx.cluster, c.params.app!, c.params.dyno!);
    ctx.log.info({ app: c.params.app, dyno: c.params.dyno, dynos: n, user: c.token!.user }, 'dynos-stopped');
    return { status: 202, body: { stopped: n } };
  });
}
