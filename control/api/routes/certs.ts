/**
 * HTTPS for apps, with Heroku's Platform API names:
 *   /apps/:app/sni-endpoints[/:id]  certificates (certs, certs:add/info/update/remove)
 *   /apps/:app/acm                  automatic certificates (certs:auto[:enable|:disable|:refresh])
 *   /apps/:app/features[/:name]     http-redirect, hsts (features, features:enable/disable)
 * A private key is accepted, checked and sealed; it is never returned.
 */
import type { Cert } from '../../../cluster/records.ts';
import { acmStatusText, changeAcm, getAcm } from '../../certs/acm-state.ts';
import { addCert, coveredHosts, findCert, listCerts, removeCert, updateCert } from '../../certs/store.ts';
import { checkCertificate } from '../../certs/validate.ts';
import type { ControlContext } from '../../context.ts';
import { listDomains } from '../../domains.ts';
import { updateRouting } from '../../apps.ts';
import { invalid, notFound } from '../../errors.ts';
import type { ApiRouter } from '../router.ts';

const iso = (ms: number) => new Date(ms).toISOString();

/** Heroku's sni-endpoint object; `domains` are the app's hosts this certificate is served for. */
export function sniEndpointJson(c: Cert, appHosts: readonly string[]) {
  return {
    id: c.name,
    name: c.name,
    display_name: null,
    certificate_chain: c.chain,
    created_at: iso(c.createdAt),
    updated_at: iso(c.updatedAt),
    app: { name: c.app },
    domains: coveredHosts(c.domains, appHosts),
    ssl_cert: {
      id: c.name,
      'ca_signed?': !c.selfSigned,
      'self_signed?': c.selfSigned,
      'acm?': c.source === 'acm',
      cert_domains: c.domains,
      starts_at: iso(c.notBefore),
      expires_at: iso(c.notAfter),
      issuer: c.issuer,
      subject: c.subject,
    },
  };
}

/** Features an app can turn on, as `heroku features` lists them. */
const FEATURES = {
  'http-redirect': { field: 'httpsRedirect', description: 'Answer plain HTTP requests with a redirect to HTTPS (301 for GET/HEAD, 308 otherwise).' },
  hsts: { field: 'hsts', description: 'Send Strict-Transport-Security: max-age=31536000 on HTTPS responses.' },
} as const;
type FeatureName = keyof typeof FEATURES;

export function certRoutes(r: ApiRouter, ctx: ControlContext): void {
  const hostsOf = async (app: string) => (await listDomains(ctx.cluster, app, ctx.baseDomain)).map((d) => d.hostname);

  r.get('/apps/:app/sni-endpoints', async (c) => {
    const app = c.params.app!;
    const [certs, hosts] = await Promise.all([listCerts(ctx.cluster, app), hostsOf(app)]);
    return { body: certs.map((e) => sniEndpointJson(e.value, hosts)) };
  });

  r.post('/apps/:app/sni-endpoints', async (c) => {
    const app = c.params.app!;
    const body = (await c.body()) as { certificate_chain?: unknown; private_key?: unknown };
    const facts = checkCertificate(body?.certificate_chain, body?.private_key);
    const cert = await addCert(ctx.cluster, ctx.clusterKey, app, facts);
    ctx.log.info({ app, cert: cert.name, domains: cert.domains, notAfter: iso(cert.notAfter), user: c.token!.user }, 'cert-added');
    return { status: 201, body: sniEndpointJson(cert, await hostsOf(app)) };
  });

  r.get('/apps/:app/sni-endpoints/:id', async (c) => {
    const app = c.params.app!;
    const e = await findCert(ctx.cluster, app, c.params.id!);
    return { body: sniEndpointJson(e.value, await hostsOf(app)) };
  });

  r.patch('/apps/:app/sni-endpoints/:id', async (c) => {
    const app = c.params.app!;
    const body = (await c.body()) as { certificate_chain?: unknown; private_key?: unknown };
    const facts = checkCertificate(body?.certificate_chain, body?.private_key);
    const cur = await findCert(ctx.cluster, app, c.params.id!);
    const cert = await updateCert(ctx.cluster, ctx.clusterKey, app, cur, facts, 'manual');
    ctx.log.info({ app, cert: cert.name, domains: cert.domains, notAfter: iso(cert.notAfter), user: c.token!.user }, 'cert-updated');
    return { body: sniEndpointJson(cert, await hostsOf(app)) };
  });

  r.delete('/apps/:app/sni-endpoints/:id', async (c) => {
    const app = c.params.app!;
    const cur = await findCert(ctx.cluster, app, c.params.id!);
    await removeCert(ctx.cluster, cur);
    ctx.log.info({ app, cert: cur.value.name, user: c.token!.user }, 'cert-removed');
    return { body: sniEndpointJson(cur.value, await hostsOf(app)) };
  });

  // ---- ACM ------------------------------------------------------------------

  const acmJson = async (app: string) => {
    const [s, domains] = await Promise.all([getAcm(ctx.cluster, app), listDomains(ctx.cluster, app, ctx.baseDomain)]);
    return {
      app: { name: app },
      acm: s.enabled,
      domains: domains.filter((d) => d.kind === 'custom').map((d) => {
        const st = s.domains[d.hostname];
        return {
          hostname: d.hostname,
          acm_status: s.enabled ? acmStatusText(st, true) : null,
          acm_status_reason: s.enabled && st?.status === 'failing' ? st.reason : null,
          updated_at: st ? iso(st.updatedAt) : null,
          next_attempt_at: st && st.status === 'failing' ? iso(st.nextAttemptAt) : null,
        };
      }),
    };
  };

  r.get('/apps/:app/acm', async (c) => ({ body: await acmJson(c.params.app!) }));

  r.post('/apps/:app/acm', async (c) => {
    const app = c.params.app!;
    await changeAcm(ctx.cluster, app, (cur) => (cur.enabled ? null : { ...cur, enabled: true, domains: {} }));
    ctx.log.info({ app, user: c.token!.user }, 'acm-enabled');
    return { body: await acmJson(app) };
  });

  r.delete('/apps/:app/acm', async (c) => {
    const app = c.params.app!;
    await changeAcm(ctx.cluster, app, (cur) => (cur.enabled ? { ...cur, enabled: false, domains: {} } : null));
    ctx.log.info({ app, user: c.token!.user }, 'acm-disabled');
    return { body: await acmJson(app) };
  });

  // Heroku: PATCH /apps/{app}/acm {"acm_refresh": true} renews every ACM certificate now
  r.patch('/apps/:app/acm', async (c) => {
    const app = c.params.app!;
    const body = (await c.body()) as { acm_refresh?: unknown };
    if (body?.acm_refresh !== true) throw invalid('expected {"acm_refresh": true}');
    const s = await getAcm(ctx.cluster, app);
    if (!s.enabled) throw invalid(`ACM is not enabled for ${app}; run \`dynomesh certs:auto:enable -a ${app}\` first`);
    await changeAcm(ctx.cluster, app, (cur) => ({ ...cur, refreshNonce: cur.refreshNonce + 1 }));
    ctx.log.info({ app, user: c.token!.user }, 'acm-refresh-requested');
    return { body: await acmJson(app) };
  });

  // ---- features ---------------------------------------------------------------

  const featureJson = (name: FeatureName, enabled: boolean) => ({
    id: name, name, description: FEATURES[name].description, enabled, state: 'general', doc_url: null, display_name: name,
  });
  const featureOf = (raw: string): FeatureName => {
    if (!Object.hasOwn(FEATURES, raw)) throw notFound(`no feature ${raw}; features are ${Object.keys(FEATURES).join(', ')}`);
    return raw as FeatureName;
  };
  const routingOf = async (app: string) => {
    const k = ctx.cluster.keys;
    const [a, r0] = await Promise.all([ctx.cluster.get(k.app(app)), ctx.cluster.get(k.routingApp(app))]);
    if (!a) throw notFound(`Couldn't find that app: ${app}.`);
    return r0?.value;
  };

  r.get('/apps/:app/features', async (c) => {
    const rt = await routingOf(c.params.app!);
    return { body: (Object.keys(FEATURES) as FeatureName[]).map((n) => featureJson(n, rt?.[FEATURES[n].field] === true)) };
  });

  r.get('/apps/:app/features/:name', async (c) => {
    const name = featureOf(c.params.name!);
    const rt = await routingOf(c.params.app!);
    return { body: featureJson(name, rt?.[FEATURES[name].field] === true) };
  });

  r.patch('/apps/:app/features/:name', async (c) => {
    const name = featureOf(c.params.name!);
    const body = (await c.body()) as { enabled?: unknown };
    if (typeof body?.enabled !== 'boolean') throw invalid('expected {"enabled": true} or {"enabled": false}');
    const next = await updateRouting(ctx.cluster, c.params.app!, { [FEATURES[name].field]: body.enabled });
    ctx.log.info({ app: c.params.app, feature: name, enabled: body.enabled, user: c.token!.user }, 'feature-changed');
    return { body: featureJson(name, next[FEATURES[name].field] === true) };
  });
}
