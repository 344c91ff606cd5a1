/** /apps/:app/domains: list (the default hostname first), add, info, remove. */
import type { ControlContext } from '../../context.ts';
import { addDomain, checkHostname, listDomains, removeDomain } from '../../domains.ts';
import { notFound } from '../../errors.ts';
import { domainJson } from '../present.ts';
import type { ApiRouter } from '../router.ts';

export function domainRoutes(r: ApiRouter, ctx: ControlContext): void {
  r.get('/apps/:app/domains', async (c) => ({ body: (await listDomains(ctx.cluster, c.params.app!, ctx.baseDomain)).map(domainJson) }));

  r.post('/apps/:app/domains', async (c) => {
    const body = (await c.body()) as { hostname?: unknown };
    const host = checkHostname(body?.hostname, ctx.baseDomain);
    const d = await addDomain(ctx.cluster, c.params.app!, host);
    ctx.log.info({ app: c.params.app, hostname: host, user: c.token!.user }, 'domain-added');
    return { status: 201, body: domainJson(d) };
  });

  r.get('/apps/:app/domains/:host', async (c) => {
    const d = (await listDomains(ctx.cluster, c.params.app!, ctx.baseDomain)).find((x) => x.hostname === c.params.host!.toLowerCase());
    if (!d) throw notFound(`${c.params.host} is not a domain of ${c.params.app}`);
    return { body: domainJson(d) };
  });

  r.delete('/apps/:app/domains/:host', async (c) => {
    const d = await removeDomain(ctx.cluster, c.params.app!, c.params.host!.toLowerCase());
    ctx.log.info({ app: c.params.app, hostname: d.hostname, user: c.token!.user }, 'domain-removed');
    return { body: domainJson(d) };
  });
}
