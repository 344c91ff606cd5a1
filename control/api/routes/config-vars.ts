/** /apps/:app/config-vars: GET the map; PATCH a map where null deletes (one release per change). */
import { checkConfigPatch, readConfig } from '../../config-vars.ts';
import type { ControlContext } from '../../context.ts';
import { setConfigVars } from '../../releases.ts';
import type { ApiRouter } from '../router.ts';

export function configVarRoutes(r: ApiRouter, ctx: ControlContext): void {
  r.get('/apps/:app/config-vars', async (c) => ({ body: await readConfig(ctx.cluster, ctx.clusterKey, c.params.app!) }));

  r.patch('/apps/:app/config-vars', async (c) => {
    const patch = await c.body();
    checkConfigPatch(patch);
    const { config, release } = await setConfigVars(ctx, c.params.app!, patch, c.token!.user);
    if (release) ctx.log.info({ app: c.params.app, version: release.version, keys: Object.keys(patch), user: c.token!.user }, 'config-vars-changed');
    const headers: Record<string, string> = release ? { 'x-dynomesh-release': String(release.version), 'x-dynomesh-release-status': release.status ?? 'succeeded' } : {};
    return { body: config, headers };
  });
}
