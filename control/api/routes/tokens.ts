/**
 * /oauth/authorizations (Heroku's name for API tokens): admins create, list and
 * revoke; the plaintext is in the create response only. /account says who you are.
 */
import type { ControlContext } from '../../context.ts';
import { invalid } from '../../errors.ts';
import { createToken, listTokens, revokeToken } from '../../tokens.ts';
import { tokenJson } from '../present.ts';
import type { ApiRouter } from '../router.ts';

export function tokenRoutes(r: ApiRouter, ctx: ControlContext): void {
  r.get('/account', async (c) => ({ body: { email: c.token!.user, admin: c.token!.admin, token: tokenJson(c.token!) } }));

  r.get('/oauth/authorizations', async () => ({ body: (await listTokens(ctx.cluster)).map((e) => tokenJson(e.value)) }), 'admin');

  r.post('/oauth/authorizations', async (c) => {
    const body = (await c.body()) as { description?: unknown; user?: unknown; admin?: unknown };
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('expected {"description": "...", "user": "...", "admin": false}');
    if (body.description !== undefined && typeof body.description !== 'string') throw invalid('"description" must be a string');
    if (body.user !== undefined && (typeof body.user !== 'string' || !/^[\w.@+-]{1,100}$/.test(body.user))) {
      throw invalid('"user" must be a name or email (letters, digits, . _ @ + -)');
    }
    if (body.admin !== undefined && typeof body.admin !== 'boolean') throw invalid('"admin" must be true or false');
    const { token, record } = await createToken(ctx.cluster, {
      name: (body.description as string | undefined) ?? 'API token',
      user: (body.user as string | undefined) ?? c.token!.user,
      admin: body.admin === true,
    });
    ctx.log.info({ id: record.id, user: record.user, admin: record.admin, by: c.token!.user }, 'token-created');
    return { status: 201, body: tokenJson(record, token) };
  }, 'admin');

  r.delete('/oauth/authorizations/:id', async (c) => {
    const t = await revokeToken(ctx.cluster, c.params.id!);
    ctx.log.info({ id: t.id, user: t.user, by: c.token!.user }, 'token-revoked');
    return { body: tokenJson(t) };
  }, 'admin');
}
