/**
 * Log API on the Platform API server:
 *
 *   GET    /apps/:app/logs?lines=&tail=&source=&dyno=   history, then (tail=true) live lines; text/plain, chunked
 *   POST   /apps/:app/log-sessions {lines,tail,source,dyno}  -> {logplex_url} (Heroku's API)
 *   GET    /log-sessions/:token                          the stream a logplex_url names (no other auth)
 *   GET    /internal/logs/:app                           the owner's stream (node token; what other instances forward)
 *   GET    /apps/:app/log-drains, POST {url}, GET/DELETE /apps/:app/log-drains/:id-or-url
 *   GET    /metrics                                      log ingestion counters, Prometheus text (admin)
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Drain } from '../../cluster/records.ts';
import type { ApiRouter, RequestContext } from '../api/router.ts';
import type { ControlContext } from '../context.ts';
import { appNotFound, ControlError, invalid, notFound } from '../errors.ts';
import { parseQuery, type LogQuery } from './filter.ts';
import { forwardStream } from './forward.ts';
import { redact } from './drains/manager.ts';
import type { LogService } from './service.ts';
import { signSession, verifySession, type SessionUser } from './session-token.ts';
import { presentedToken } from '../api/auth.ts';
import { Egress } from '../../lib/egress.ts';
import { authorizeApp } from '../api/authorize.ts';
import { principalOf, type Principal } from '../access/principal.ts';
import { hashToken, verifyToken, verifyTokenHash } from '../tokens.ts';

/** How often an open tail checks that its reader may still read the app (access:remove ends it within this). */
export const TAIL_RECHECK_MS = 1000;
import { startStream } from './tail.ts';

export const MAX_DRAINS = 5;

export interface LogRouteDeps {
  service: LogService;
  peerToken: string;
  /** How many bytes a tail may fall behind before it is cut off (L11). */
  maxBehindBytes?: number;
}

export function logRoutes(r: ApiRouter, ctx: ControlContext, deps: LogRouteDeps): void {
  const { service } = deps;

  const appExists = async (app: string) => {
    if (!(await ctx.cluster.get(ctx.cluster.keys.app(app)))) throw appNotFound(app);
  };

  /** True while the principal may still read the app (and its account and token exist). */
  const mayRead = (p: Principal | undefined, app: string) =>
    p ? authorizeApp(ctx.cluster, p, app, ['read']).then(() => true, () => false) : Promise.resolve(false);

  /** A tail stays open only while its reader may read the app: checked every second, cut when not. */
  const guard = (res: ServerResponse, q: LogQuery, allowed: () => Promise<boolean>) => {
    if (!q.tail) return;
    const timer = setInterval(() => {
      void allowed().then((ok) => {
        if (ok || res.destroyed) return;
        clearInterval(timer);
        res.destroy();
      }, () => undefined);
    }, TAIL_RECHECK_MS);
    timer.unref();
    res.on('close', () => clearInterval(timer));
  };

  const serve = async (app: string, q: LogQuery, res: ServerResponse): Promise<undefined> => {
    const owner = service.members.owner(app);
    const peers = service.members.list().map((m) => m.api).filter((u) => u !== ctx.advertiseUrl);
    if (!owner || owner.id === service.id) {
      startStream(service.store, app, q, res, { owner: service.id, peers }, deps.maxBehindBytes);
      return undefined;
    }
    await forwardStream(owner, app, q, deps.peerToken, res);
    return undefined;
  };

  const query = (c: RequestContext) => parseQuery((n) => c.url.searchParams.get(n) ?? undefined);

  r.get('/apps/:app/logs', async (c) => {
    const q = query(c);
    await appExists(c.params.app!);
    const presented = presentedToken(c.req) ?? '';
    guard(c.res, q, async () => {
      const found = await verifyToken(ctx.cluster, presented);
      return !('refused' in found) && mayRead(principalOf(found.token, found.user), c.params.app!);
    });
    return serve(c.params.app!, q, c.res);
  });

  r.get('/internal/logs/:app', async (c) => {
    startStream(service.store, c.params.app!, query(c), c.res, { owner: service.id, peers: [] }, deps.maxBehindBytes);
    return undefined;
  });

  r.get('/metrics', async (c) => {
    c.res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    c.res.end(service.metrics.text());
    return undefined;
  });

  r.post('/apps/:app/log-sessions', async (c) => {
    const body = (await c.body()) as Record<string, unknown>;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('expected {"lines": 100, "tail": false, "source": "app", "dyno": "web.1"}');
    const q = parseQuery((n) => body[n]);
    await appExists(c.params.app!);
    const who: SessionUser = { token: hashToken(presentedToken(c.req) ?? '') };
    const { token, expiresAt } = signSession(ctx.clusterKey, c.params.app!, q, who);
    const now = new Date().toISOString();
    return {
      status: 201,
      body: {
        id: randomUUID(),
        logplex_url: `${ctx.advertiseUrl.replace(/\/$/, '')}/log-sessions/${token}`,
        created_at: now,
        updated_at: now,
        expires_at: new Date(expiresAt).toISOString(),
      },
    };
  });

  r.get('/log-sessions/:token', async (c) => {
    const { app, q, who } = verifySession(ctx.clusterKey, c.params.token!);
    // The URL is a capability, but only while the token that made it may still read the app.
    const allowed = async () => {
      const found = await verifyTokenHash(ctx.cluster, who.token);
      return !('refused' in found) && mayRead(principalOf(found.token, found.user), app);
    };
    if (!(await allowed())) throw appNotFound(app);
    guard(c.res, q, allowed);
    // A resuming client may narrow the session with `since` (and ask again for history).
    const since = c.url.searchParams.get('since');
    const resumed: LogQuery = since ? { ...q, since: parseQuery((n) => (n === 'since' ? since : undefined)).since! } : q;
    return serve(app, resumed, c.res);
  });

  drainRoutes(r, ctx);
}

function drainJson(d: Drain) {
  const t = new Date(d.createdAt).toISOString();
  return { id: d.id, url: redact(d.url), token: d.token, addon: null, app: { name: d.app }, created_at: t, updated_at: t };
}

/** Accepts syslog://, syslog+tls://, http:// and https:// URLs with a host (and a port for syslog). */
export function checkDrainUrl(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw invalid('expected {"url": "syslog://host:port"} or {"url": "https://host/path"}');
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw invalid(`${JSON.stringify(raw)} is not a URL; use syslog://host:port, syslog+tls://host:port or https://host/path`);
  }
  if (!['syslog:', 'syslog+tls:', 'http:', 'https:'].includes(u.protocol)) {
    throw invalid(`drain URL scheme ${u.protocol.replace(/:$/, '')} is not supported; use syslog, syslog+tls, http or https`);
  }
  if (!u.hostname) throw invalid(`drain URL ${JSON.stringify(raw)} has no host`);
  if (u.protocol.startsWith('syslog') && !u.port) throw invalid(`syslog drain URL ${JSON.stringify(raw)} needs a port (syslog://host:514)`);
  return u.protocol.startsWith('syslog') ? `${u.protocol}//${u.host}` : u.toString();
}

function drainRoutes(r: ApiRouter, ctx: ControlContext): void {
  const k = ctx.cluster.keys;
  const list = async (app: string): Promise<Drain[]> => {
    if (!(await ctx.cluster.get(k.app(app)))) throw appNotFound(app);
    const all = await ctx.cluster.list(k.drainsOf(app));
    return all.entries.map((e) => e.value as Drain).sort((a, b) => a.createdAt - b.createdAt);
  };
  const find = async (app: string, ref: string): Promise<Drain> => {
    const d = (await list(app)).find((x) => x.id === ref || x.url === ref || x.token === ref);
    if (!d) throw notFound(`no drain ${ref} on ${app}; list them with GET /apps/${app}/log-drains`);
    return d;
  };

  r.get('/apps/:app/log-drains', async (c) => ({ body: (await list(c.params.app!)).map(drainJson) }));
  r.get('/apps/:app/log-drains/*ref', async (c) => ({ body: drainJson(await find(c.params.app!, c.params.ref!)) }));

  r.post('/apps/:app/log-drains', async (c) => {
    const app = c.params.app!;
    const body = (await c.body()) as { url?: unknown };
    const url = checkDrainUrl(body && typeof body === 'object' ? body.url : undefined);
    const drains = await list(app);
    // Said now, in one line; checked again each time the drain connects (the name may resolve elsewhere later).
    const u = new URL(url);
    await (ctx.egress ?? new Egress()).check(u.hostname, Number(u.port || { 'https:': 443, 'http:': 80 }[u.protocol] || 0), `drain ${redact(url)}`).catch((err: Error) => {
      throw invalid(err.message);
    });
    if (drains.some((d) => d.url === url)) throw new ControlError(422, 'invalid_params', `${app} already drains to ${redact(url)}`);
    if (drains.length >= MAX_DRAINS) throw invalid(`${app} already has ${MAX_DRAINS} drains, the limit; remove one first`);
    const d: Drain = { id: randomUUID(), app, url, token: `d.${randomUUID()}`, createdAt: Date.now() };
    const key = k.drain(app, d.id);
    // keys: drains/{app}/{id}; compare: the app's create revision is what we read (not destroyed
    // meanwhile); result: the drain, 404 when the app went.
    const a = await ctx.cluster.get(k.app(app));
    if (!a) throw appNotFound(app);
    const ok = await ctx.cluster.txn([{ key: k.app(app), target: 'create', op: '==', value: a.createRevision }], [{ put: key, value: ctx.cluster.value(key, d) }]);
    if (!ok.succeeded) throw appNotFound(app);
    ctx.log.info({ app, drain: d.id, url: redact(url), user: c.token?.user }, 'drain-added');
    return { status: 201, body: drainJson(d) };
  });

  r.delete('/apps/:app/log-drains/*ref', async (c) => {
    const d = await find(c.params.app!, c.params.ref!);
    await ctx.cluster.delete(k.drain(d.app, d.id));
    ctx.log.info({ app: d.app, drain: d.id, user: c.token?.user }, 'drain-removed');
    return { body: drainJson(d) };
  });
}
