/**
 * /account (who you are) and /oauth/authorizations (Heroku's name for API
 * tokens): each user lists, creates and revokes their own tokens, through a
 * global-scope token (policy.ts), so a scoped token cannot mint a wider one.
 * A new token may be scoped (read, write, deploy), limited to one app the user
 * can reach, and expire. Admins may also revoke anyone's token.
 */
import { TOKEN_SCOPES, type TokenScope } from '../../../cluster/records.ts';
import { isAdmin } from '../../access/principal.ts';
import { checkEmail } from '../../access/users.ts';
import type { ControlContext } from '../../context.ts';
import { forbidden, invalid, notFound } from '../../errors.ts';
import { createToken, listTokens, revokeToken } from '../../tokens.ts';
import { authorizeApp } from '../authorize.ts';
import type { AppAction } from '../policy.ts';
import { tokenJson } from '../present.ts';
import type { ApiRouter } from '../router.ts';

/** Ten years: longer is a typo. */
const MAX_EXPIRES_IN = 10 * 365 * 86_400;

/** What a token of this scope must be allowed on its app when limited to one. */
const SCOPE_NEEDS: Record<TokenScope, AppAction> = { global: 'manage', write: 'write', read: 'read', deploy: 'deploy' };

interface CreateBody {
  description?: unknown;
  scope?: unknown;
  expires_in?: unknown;
  app?: unknown;
  user?: unknown;
}

function parseScope(raw: unknown): TokenScope {
  const s = Array.isArray(raw) && raw.length === 1 ? raw[0] : raw ?? 'global';
  if (typeof s !== 'string' || !TOKEN_SCOPES.includes(s as TokenScope)) throw invalid(`"scope" must be one of ${TOKEN_SCOPES.join(', ')}`);
  return s as TokenScope;
}

export function tokenRoutes(r: ApiRouter, ctx: ControlContext): void {
  r.get('/account', async (c) => {
    const p = c.principal!;
    return { body: { id: p.user.id, email: p.user.email, admin: p.user.admin, token: tokenJson(p.token) } };
  });

  r.get('/oauth/authorizations', async (c) => ({
    body: (await listTokens(ctx.cluster)).filter((e) => e.value.user === c.principal!.user.email).map((e) => tokenJson(e.value)),
  }));

  r.get('/oauth/authorizations/:id', async (c) => {
    const t = (await listTokens(ctx.cluster)).find((e) => e.value.id === c.params.id && e.value.user === c.principal!.user.email);
    if (!t) throw notFound(`no token with id ${c.params.id}; list them with \`dynomesh authorizations\``);
    return { body: tokenJson(t.value) };
  });

  r.post('/oauth/authorizations', async (c) => {
    const p = c.principal!;
    const body = (await c.body()) as CreateBody;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('expected {"description": "...", "scope": ["deploy"], "app": "myapp", "expires_in": 3600}');
    if (body.description !== undefined && typeof body.description !== 'string') throw invalid('"description" must be a string');
    const scope = parseScope(body.scope);
    let expiresAt: number | undefined;
    if (body.expires_in !== undefined && body.expires_in !== null) {
      const s = body.expires_in;
      if (typeof s !== 'number' || !Number.isInteger(s) || s < 1 || s > MAX_EXPIRES_IN) throw invalid(`"expires_in" must be whole seconds from 1 to ${MAX_EXPIRES_IN}`);
      expiresAt = Date.now() + s * 1000;
    }
    // Tokens for another account: admins only (users:add makes a user's first token itself).
    let user = p.user.email;
    if (body.user !== undefined && body.user !== null) {
      const other = checkEmail(body.user);
      if (other !== user && !isAdmin(p)) throw forbidden('only admins can create tokens for another user');
      user = other;
    }
    let app: string | undefined;
    if (body.app !== undefined && body.app !== null) {
      if (typeof body.app !== 'string') throw invalid('"app" must be an app name');
      if (user === p.user.email) await authorizeApp(ctx.cluster, p, body.app, [SCOPE_NEEDS[scope]]);
      app = body.app;
    }
    const { token, record } = await createToken(ctx.cluster, {
      name: typeof body.description === 'string' && body.description ? body.description : 'API token',
      user, scope, ...(app ? { app } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}),
    });
    ctx.log.info({ id: record.id, user: record.user, scope, app, expiresAt, by: p.user.email }, 'token-created');
    return { status: 201, body: tokenJson(record, token) };
  });

  r.delete('/oauth/authorizations/:id', async (c) => {
    const p = c.principal!;
    const t = await revokeToken(ctx.cluster, c.params.id!, (t) => t.user === p.user.email || isAdmin(p));
    ctx.log.info({ id: t.id, user: t.user, by: p.user.email }, 'token-revoked');
    return { body: tokenJson(t) };
  });
}
