/**
 * Add-on lifecycle: create = reserve the attachment, provision, attach (config
 * vars + release in one transaction); destroy = detach (release), deprovision,
 * forget. Records live at `addons/{app}/{ATTACHMENT}`:
 *
 *   provisioning    reserved before the provider is called; carries the id a retry reuses,
 *                   so a repeated `addons:create` after a crash does not create a second database
 *   provisioned     written in the same txn as the attach release and its config vars
 *   deprovisioning  written in the same txn as the detach release; deleted once the provider is done
 *
 * A provider that fails leaves no config vars, no release and no record.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { EntryOf } from '../../cluster/client.ts';
import type { Addon, Release } from '../../cluster/records.ts';
import { seal, unseal } from '../../cluster/sealed.ts';
import { appNotFound, conflict, ControlError, invalid, notFound } from '../errors.ts';
import { appendRelease, type ReleaseContext } from '../releases.ts';
import { ProviderError, type AddonProvider } from './provider.ts';
import type { AddonProviders } from './registry.ts';
import { logger } from '../../lib/log.ts';

const log = logger('addons');

export interface CreateAddon {
  service: string;
  plan?: string;
  /** Attachment name (`--as`), e.g. CACHE; config vars become CACHE_URL... */
  as?: string;
  options?: Record<string, string>;
  author: string;
}

const ATTACHMENT = /^[A-Z][A-Z0-9_]{0,29}$/;
const WORDS = ['shaped', 'vertical', 'cubic', 'rigid', 'silent', 'curved', 'solid', 'amber', 'opaque', 'spherical', 'tidy', 'lunar'];
const COLORS = ['AQUA', 'BLUE', 'COBALT', 'CRIMSON', 'GOLD', 'GRAY', 'GREEN', 'IVORY', 'OLIVE', 'ORANGE', 'PINK', 'PURPLE', 'SILVER', 'TEAL', 'WHITE'];

/** `postgresql-shaped-12345`, Heroku's shape of a global add-on name. */
function addonName(service: string): string {
  const b = randomBytes(3);
  return `${service}-${WORDS[b[0]! % WORDS.length]}-${10000 + (b.readUInt16BE(1) % 90000)}`;
}

/** A ControlError the API can answer with: provider failures are one line, 503 when its server is down. */
export function providerFailure(err: unknown, what: string): Error {
  if (!(err instanceof ProviderError)) return err as Error;
  return new ControlError(err.unavailable ? 503 : 422, err.unavailable ? 'unavailable' : 'invalid_params', `${what}: ${err.message}`);
}

export async function listAddons(ctx: ReleaseContext, app: string): Promise<Addon[]> {
  const k = ctx.cluster.keys;
  const [a, all] = await Promise.all([ctx.cluster.get(k.app(app)), ctx.cluster.list(k.addons(app))]);
  if (!a) throw appNotFound(app);
  return all.entries.filter((e): e is EntryOf<'addon'> => e.kind === 'addon').map((e) => e.value).sort((x, y) => x.createdAt - y.createdAt);
}

/** An add-on of the app by attachment name (`DATABASE`), global name or id. */
export async function findAddon(ctx: ReleaseContext, app: string, ref: string): Promise<EntryOf<'addon'>> {
  const k = ctx.cluster.keys;
  if (ATTACHMENT.test(ref.toUpperCase())) {
    const e = await ctx.cluster.get(k.addon(app, ref.toUpperCase()));
    if (e) return e;
  }
  const all = await ctx.cluster.list(k.addons(app));
  const hit = all.entries.find((e): e is EntryOf<'addon'> => e.kind === 'addon' && (e.value.addonName === ref || e.value.id === ref));
  if (hit) return hit;
  if (!(await ctx.cluster.get(k.app(app)))) throw appNotFound(app);
  throw notFound(`Couldn't find that add-on: ${ref} on ${app}. List them with \`dynomesh addons -a ${app}\`.`);
}

/** The config var names an attachment gets: the provider's `PREFIX_X` becomes `NAME_X`. */
function rename(provider: AddonProvider, name: string, config: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    if (!key.startsWith(`${provider.configVarsPrefix}_`)) throw new ProviderError(`provider returned config var ${key}, which does not start with ${provider.configVarsPrefix}_`);
    out[name + key.slice(provider.configVarsPrefix.length)] = value;
  }
  return out;
}

/**
 * Reserves an attachment name, provisions, then attaches with a release (appendRelease).
 * The reservation, one txn per candidate name:
 *
 *   keys:    addons/{app}/{name}, written `provisioning`
 *   compare: the app's create revision is what we read, the name is free
 *   result:  the first free name; a taken one tries the next (or 409 with --as)
 */
export async function createAddon(ctx: ReleaseContext, providers: AddonProviders, app: string, req: CreateAddon): Promise<{ addon: Addon; release: Release; message?: string }> {
  const { cluster } = ctx;
  const k = cluster.keys;
  const provider = providers.get(req.service);
  const plan = req.plan ?? provider.defaultPlan;
  if (!provider.plans.includes(plan)) throw invalid(`${req.service} has no plan "${plan}"; plans: ${provider.plans.join(', ')}`);
  const as = req.as?.toUpperCase();
  if (as !== undefined && !ATTACHMENT.test(as)) throw invalid(`--as ${req.as} is not a valid attachment name: use letters, digits and _, starting with a letter (e.g. CACHE)`);
  const appEntry = await cluster.get(k.app(app));
  if (!appEntry) throw appNotFound(app);

  // Pick the attachment: --as, else DATABASE, else POSTGRESQL_<COLOR> (Heroku's HEROKU_POSTGRESQL_<COLOR>).
  const candidates = as ? [as] : [provider.configVarsPrefix, ...COLORS.map((c) => `${req.service.toUpperCase()}_${c}`)];
  let record: Addon | undefined;
  let reservedRev = 0;
  for (const name of candidates) {
    const existing = await cluster.get(k.addon(app, name));
    if (existing) {
      const v = existing.value;
      // A retried create that died after reserving resumes with the same id (no second database).
      if (v.state === 'provisioning' && v.service === req.service && v.plan === plan) {
        record = v;
        reservedRev = existing.modRevision;
        break;
      }
      if (as) throw conflict(`${name} is already attached to ${app} (${v.addonName ?? v.id}); choose another name with --as`);
      continue;
    }
    const fresh: Addon = {
      app, name, id: randomUUID(), service: req.service, plan, configVars: [], createdAt: Date.now(),
      addonName: addonName(req.service), state: 'provisioning', author: req.author,
    };
    const r = await cluster.txn(
      [{ key: k.app(app), target: 'create', op: '==', value: appEntry.createRevision }, { key: k.addon(app, name), target: 'create', op: '==', value: 0 }],
      [{ put: k.addon(app, name), value: cluster.value(k.addon(app, name), fresh) }],
    );
    if (!r.succeeded) {
      if (!(await cluster.get(k.app(app)))) throw appNotFound(app);
      if (as) throw conflict(`${name} was just attached to ${app} by another request; choose another name with --as`);
      continue;
    }
    record = fresh;
    reservedRev = r.revision;
    break;
  }
  if (!record) throw conflict(`every ${req.service} attachment name on ${app} is taken; choose one with --as`);
  const rec = record;
  const key = k.addon(app, rec.name);

  let vars: Record<string, string>;
  let message: string | undefined;
  try {
    const p = await provider.provision({ app, plan, options: req.options ?? {}, id: rec.id });
    vars = rename(provider, rec.name, p.config);
    message = p.message;
  } catch (err) {
    await abandon(ctx, provider, key, reservedRev, rec.id, err);
    throw providerFailure(err, `could not provision ${req.service}:${plan} for ${app}`);
  }

  const attached: Addon = { ...rec, configVars: Object.keys(vars).sort(), state: 'provisioned' };
  try {
    const release = await appendRelease(ctx, app, req.author, (s) => {
      const before = unseal(ctx.clusterKey, s.sealedConfig);
      // A concurrent retry of this same create attached it already: nothing left to do.
      if (Object.entries(vars).every(([v, value]) => before[v] === value)) return null;
      const clash = Object.keys(vars).filter((v) => v in before);
      if (clash.length) throw conflict(`${clash.join(', ')} is already set on ${app}; remove it with config:unset or choose another name with --as`);
      return {
        description: `Attach ${rec.name} (${rec.addonName})`,
        slug: s.current?.slug ?? null,
        processTypes: s.current?.processTypes ?? {},
        config: seal(ctx.clusterKey, { ...before, ...vars }),
        configChanged: true,
        ops: [{ put: key, value: cluster.value(key, attached) }],
        compares: [{ key, target: 'mod', op: '==', value: reservedRev }],
      };
    });
    const current = release ?? (await currentRelease(ctx, app));
    return { addon: attached, release: current, ...(message ? { message } : {}) };
  } catch (err) {
    await abandon(ctx, provider, key, reservedRev, rec.id, err);
    throw err;
  }
}

/** Undoes a create that will not be attached: the provider's resource (best effort) and the reservation. */
async function abandon(ctx: ReleaseContext, provider: AddonProvider, key: ReturnType<ReleaseContext['cluster']['keys']['addon']>, rev: number, id: string, cause: unknown): Promise<void> {
  // Only the request that still holds the reservation cleans up: a concurrent retry may have attached it.
  // keys: addons/{app}/{name}; compare: its mod revision is the reservation's; result: deleted.
  const r = await ctx.cluster.txn([{ key, target: 'mod', op: '==', value: rev }], [{ del: key }]).catch(() => undefined);
  if (!r?.succeeded) return;
  // An unreachable server created nothing; anything else may have left a half-made resource.
  if (cause instanceof ProviderError && cause.unavailable) return;
  await provider.deprovision(id).catch((err: Error) => log.warn({ id, service: provider.service, err: err.message }, 'addon-cleanup-failed'));
}

async function currentRelease(ctx: ReleaseContext, app: string): Promise<Release> {
  const cur = await ctx.cluster.get(ctx.cluster.keys.current(app));
  const rel = cur && (await ctx.cluster.get(ctx.cluster.keys.release(app, cur.value.version)));
  if (!rel) throw appNotFound(app);
  return rel.value;
}

/**
 * Detaches (a release removing the add-on's config vars), then deprovisions and
 * forgets it. When the provider fails the add-on stays `deprovisioning` with its
 * config vars already gone; running destroy again finishes it.
 *
 *   keys:    addons/{app}/{name}: put `deprovisioning` (in the release's txn, or alone
 *            when no var is left to remove), then deleted after the provider
 *   compare: its mod revision is what we read before each write
 *   result:  the add-on and the release that removed its vars (null when none did)
 */
export async function destroyAddon(ctx: ReleaseContext, providers: AddonProviders, app: string, ref: string, author: string): Promise<{ addon: Addon; release: Release | null }> {
  const { cluster } = ctx;
  const entry = await findAddon(ctx, app, ref);
  const rec = entry.value;
  const key = cluster.keys.addon(app, rec.name);
  const provider = providers.find(rec.service);
  if (!provider) throw invalid(`${rec.addonName ?? rec.id} is a ${rec.service} add-on, and this control plane has no ${rec.service} provider configured; the operator must add it back to destroy the add-on`);
  let release: Release | null = null;
  let rev = entry.modRevision;
  if (rec.state !== 'deprovisioning') {
    const detaching: Addon = { ...rec, state: 'deprovisioning' };
    const op = { put: key, value: cluster.value(key, detaching) };
    release = await appendRelease(ctx, app, author, (s) => {
      const before = unseal(ctx.clusterKey, s.sealedConfig);
      const after = { ...before };
      for (const v of rec.configVars) delete after[v];
      if (Object.keys(after).length === Object.keys(before).length) return null;
      return {
        description: `Detach ${rec.name} (${rec.addonName ?? rec.id})`,
        slug: s.current?.slug ?? null,
        processTypes: s.current?.processTypes ?? {},
        config: seal(ctx.clusterKey, after),
        configChanged: true,
        releasePhase: false, // as Heroku: add-on-driven config changes run no release command
        ops: [op],
        compares: [{ key, target: 'mod', op: '==', value: entry.modRevision }],
      };
    });
    // No var left to remove (a failed earlier attach, or unset by hand): mark it without a release.
    if (!release) await cluster.txn([{ key, target: 'mod', op: '==', value: entry.modRevision }], [op]);
    rev = (await cluster.get(key))?.modRevision ?? 0;
  }
  try {
    await provider.deprovision(rec.id);
  } catch (err) {
    const done = release ? `its config vars were removed in v${release.version}, but ` : '';
    throw providerFailure(err, `${done}${rec.addonName ?? rec.id} could not be deleted; run addons:destroy again`);
  }
  await cluster.txn([{ key, target: 'mod', op: '==', value: rev }], [{ del: key }]);
  return { addon: { ...rec, state: 'deprovisioning' }, release };
}

/**
 * Changes the plan in place (`addons:upgrade`); the config vars stay the same.
 *
 *   keys:    addons/{app}/{name}
 *   compare: its mod revision is what we read before asking the provider
 *   result:  the add-on with its new plan; 409 when it changed meanwhile
 */
export async function changeAddonPlan(ctx: ReleaseContext, providers: AddonProviders, app: string, ref: string, plan: string): Promise<Addon> {
  const entry = await findAddon(ctx, app, ref);
  const rec = entry.value;
  const provider = providers.get(rec.service);
  if (!provider.plans.includes(plan)) throw invalid(`${rec.service} has no plan "${plan}"; plans: ${provider.plans.join(', ')}`);
  if (!provider.changePlan) throw invalid(`${rec.service} add-ons cannot change plan`);
  if (rec.state !== 'provisioned') throw conflict(`${rec.addonName ?? rec.id} is ${rec.state}; wait until it is provisioned`);
  try {
    await provider.changePlan(rec.id, plan);
  } catch (err) {
    throw providerFailure(err, `could not change ${rec.addonName ?? rec.id} to ${plan}`);
  }
  const updated: Addon = { ...rec, plan };
  const key = ctx.cluster.keys.addon(app, rec.name);
  const r = await ctx.cluster.txn([{ key, target: 'mod', op: '==', value: entry.modRevision }], [{ put: key, value: ctx.cluster.value(key, updated) }]);
  if (!r.succeeded) throw conflict(`${rec.addonName ?? rec.id} changed while its plan was being changed; try again`);
  return updated;
}

/**
 * `apps:destroy` takes its add-ons with it (as on Heroku): every add-on is
 * deprovisioned first; if one cannot be, the app is not destroyed and the user is
 * told which and why (deprovisioning is idempotent, so destroying again resumes).
 */
export async function destroyAppAddons(ctx: ReleaseContext, providers: AddonProviders, app: string): Promise<void> {
  for (const a of await listAddons(ctx, app)) {
    const provider = providers.find(a.service);
    const name = a.addonName ?? a.id;
    if (!provider) throw invalid(`${app} has the ${a.service} add-on ${name}, and this control plane has no ${a.service} provider configured; nothing was destroyed`);
    try {
      await provider.deprovision(a.id);
    } catch (err) {
      throw providerFailure(err, `${app} was not destroyed: its add-on ${name} could not be deleted`);
    }
    await ctx.cluster.delete(ctx.cluster.keys.addon(app, a.name));
    log.info({ app, addon: name }, 'addon-destroyed-with-app');
  }
}
