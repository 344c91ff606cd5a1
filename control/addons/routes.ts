/**
 * /apps/:app/addons: list, create (POST {plan: "postgresql[:mini]", attachment: {name}, config}),
 * info, plan change (PATCH {plan}), destroy; /addon-services lists what can be created.
 * Shapes follow Heroku's Platform API add-on objects.
 */
import type { Addon } from '../../cluster/records.ts';
import type { ApiRouter } from '../api/router.ts';
import type { ControlContext } from '../context.ts';
import { invalid } from '../errors.ts';
import { changeAddonPlan, createAddon, destroyAddon, destroyAppAddons, findAddon, listAddons } from './addons.ts';
import type { AddonProviders } from './registry.ts';

export function addonJson(a: Addon) {
  return {
    id: a.id,
    name: a.addonName ?? `${a.service}-${a.id.slice(0, 8)}`,
    addon_service: { name: a.service },
    plan: { name: `${a.service}:${a.plan}` },
    app: { name: a.app },
    attachment: { name: a.name },
    config_vars: a.configVars,
    state: a.state ?? 'provisioned',
    created_at: new Date(a.createdAt).toISOString(),
  };
}

/** `postgresql`, `postgresql:mini` → service and plan. */
export function parsePlan(v: unknown): { service: string; plan?: string } {
  if (typeof v !== 'string' || !/^[a-z][a-z0-9-]*(:[a-z0-9][a-z0-9-]*)?$/.test(v)) {
    throw invalid('"plan" must be a service, optionally with a plan: "postgresql" or "postgresql:mini"');
  }
  const [service, plan] = v.split(':') as [string, string | undefined];
  return plan ? { service, plan } : { service };
}

function options(v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid('"config" must be an object of option: "value"');
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw invalid(`option ${k} must be a string`);
    out[k] = x;
  }
  return out;
}

export function addonRoutes(r: ApiRouter, ctx: ControlContext, providers: AddonProviders): void {
  (ctx.beforeAppDestroy ??= []).push((app) => destroyAppAddons(ctx, providers, app));

  r.get('/addon-services', async () => ({
    body: providers.services.map((s) => {
      const p = providers.get(s);
      return { name: s, plans: p.plans.map((plan) => ({ name: `${s}:${plan}`, default: plan === p.defaultPlan })), config_vars_prefix: p.configVarsPrefix };
    }),
  }));

  r.get('/apps/:app/addons', async (c) => ({ body: (await listAddons(ctx, c.params.app!)).map(addonJson) }));

  r.post('/apps/:app/addons', async (c) => {
    const body = (await c.body()) as { plan?: unknown; attachment?: { name?: unknown }; config?: unknown };
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('expected a JSON object such as {"plan": "postgresql:mini"}');
    const { service, plan } = parsePlan(body.plan);
    const as = body.attachment?.name;
    if (as !== undefined && typeof as !== 'string') throw invalid('"attachment.name" must be a string such as "CACHE"');
    const app = c.params.app!;
    const { addon, release, message } = await createAddon(ctx, providers, app, {
      service, ...(plan ? { plan } : {}), ...(as ? { as } : {}), options: options(body.config), author: c.token!.user,
    });
    ctx.log.info({ app, addon: addon.addonName, service, plan: addon.plan, attachment: addon.name, version: release.version, user: c.token!.user }, 'addon-created');
    return { status: 201, body: { ...addonJson(addon), provision_message: message ?? null, release: { version: release.version, status: release.status ?? 'succeeded' } }, headers: { 'x-dynomesh-release': String(release.version) } };
  });

  r.get('/apps/:app/addons/:addon', async (c) => ({ body: addonJson((await findAddon(ctx, c.params.app!, c.params.addon!)).value) }));

  r.patch('/apps/:app/addons/:addon', async (c) => {
    const body = (await c.body()) as { plan?: unknown };
    const { service, plan } = parsePlan(body?.plan);
    if (!plan) throw invalid('"plan" must name the new plan: "postgresql:standard"');
    const current = (await findAddon(ctx, c.params.app!, c.params.addon!)).value;
    if (current.service !== service) throw invalid(`${current.addonName} is a ${current.service} add-on; it cannot become ${service}`);
    const updated = await changeAddonPlan(ctx, providers, c.params.app!, c.params.addon!, plan);
    ctx.log.info({ app: c.params.app, addon: updated.addonName, plan, user: c.token!.user }, 'addon-plan-changed');
    return { body: addonJson(updated) };
  });

  r.delete('/apps/:app/addons/:addon', async (c) => {
    const { addon, release } = await destroyAddon(ctx, providers, c.params.app!, c.params.addon!, c.token!.user);
    ctx.log.info({ app: c.params.app, addon: addon.addonName, version: release?.version, user: c.token!.user }, 'addon-destroyed');
    return { body: { ...addonJson(addon), state: 'deprovisioned', release: release ? { version: release.version } : null } };
  });
}
