/**
 * /users (admin): accounts. Creating one makes its first API token in the same
 * transaction and returns the plaintext once (`users:add` prints it).
 * Removing one deletes its tokens and collaborations with it.
 */
import { createUser, checkEmail, listUsers, removeUser } from '../../access/users.ts';
import type { ControlContext } from '../../context.ts';
import { invalid } from '../../errors.ts';
import { tokenRecord } from '../../tokens.ts';
import { tokenJson, userJson } from '../present.ts';
import type { ApiRouter } from '../router.ts';

export function userRoutes(r: ApiRouter, ctx: ControlContext): void {
  r.get('/users', async () => ({ body: (await listUsers(ctx.cluster)).map(userJson) }));

  r.post('/users', async (c) => {
    const body = (await c.body()) as { email?: unknown; admin?: unknown };
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('expected {"email": "bob@example.com", "admin": false}');
    const email = checkEmail(body.email);
    if (body.admin !== undefined && typeof body.admin !== 'boolean') throw invalid('"admin" must be true or false');
    const admin = body.admin === true;
    const by = c.principal!.user.email;
    const first = tokenRecord(ctx.cluster, { name: `first token of ${email}`, user: email, admin });
    const user = await createUser(ctx.cluster, email, { admin, by }, [{ put: first.key, value: ctx.cluster.value(first.key, first.record) }]);
    ctx.log.info({ user: email, admin, by }, 'user-created');
    return { status: 201, body: { ...userJson(user), token: tokenJson(first.record, first.token) } };
  });

  r.delete('/users/:email', async (c) => {
    const user = await removeUser(ctx.cluster, c.params.email!.toLowerCase());
    ctx.log.info({ user: user.email, by: c.principal!.user.email }, 'user-removed');
    return { body: userJson(user) };
  });
}
