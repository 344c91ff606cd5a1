/**
 * Access to an app, Heroku's API: `GET/POST /apps/:app/collaborators`,
 * `DELETE /apps/:app/collaborators/:email`, and `POST /account/app-transfers
 * {app, recipient}`. Only the owner (or an admin) changes who has access
 * (policy.ts: `manage`). A transfer takes effect at once (Heroku asks the
 * recipient to accept; here an account is created by an admin of the same
 * cluster, so there is nobody outside to ask).
 */
import { addCollaborator, listMembers, removeCollaborator, transferApp } from '../../access/members.ts';
import { checkEmail } from '../../access/users.ts';
import type { ControlContext } from '../../context.ts';
import { appNotFound, invalid } from '../../errors.ts';
import { collaboratorJson } from '../present.ts';
import type { ApiRouter } from '../router.ts';

export function collaboratorRoutes(r: ApiRouter, ctx: ControlContext): void {
  const appOf = async (name: string) => {
    const a = await ctx.cluster.get(ctx.cluster.keys.app(name));
    if (!a) throw appNotFound(name);
    return a.value;
  };

  r.get('/apps/:app/collaborators', async (c) => {
    const app = await appOf(c.params.app!);
    return { body: (await listMembers(ctx.cluster, app.name)).map((m) => collaboratorJson(app, m)) };
  });

  r.post('/apps/:app/collaborators', async (c) => {
    const body = (await c.body()) as { user?: unknown };
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('expected {"user": "bob@example.com"}');
    const raw = typeof body.user === 'object' && body.user !== null ? (body.user as { email?: unknown }).email : body.user;
    const email = checkEmail(raw);
    const app = await appOf(c.params.app!);
    const rec = await addCollaborator(ctx.cluster, app.name, email, c.principal!.user.email);
    ctx.log.info({ app: app.name, user: email, by: c.principal!.user.email }, 'collaborator-added');
    return { status: 201, body: collaboratorJson(app, { user: email, role: 'collaborator', createdAt: rec.createdAt, id: `${app.name}:${email}` }) };
  });

  r.delete('/apps/:app/collaborators/:email', async (c) => {
    const app = await appOf(c.params.app!);
    const rec = await removeCollaborator(ctx.cluster, app.name, c.params.email!.toLowerCase());
    ctx.log.info({ app: app.name, user: rec.user, by: c.principal!.user.email }, 'collaborator-removed');
    return { body: collaboratorJson(app, { user: rec.user, role: 'collaborator', createdAt: rec.createdAt, id: `${app.name}:${rec.user}` }) };
  });

  r.post('/account/app-transfers', async (c) => {
    const body = (await c.body()) as { app?: unknown; recipient?: unknown };
    const appName = typeof body.app === 'object' && body.app !== null ? (body.app as { name?: unknown }).name : body.app;
    const raw = typeof body.recipient === 'object' && body.recipient !== null ? (body.recipient as { email?: unknown }).email : body.recipient;
    const recipient = checkEmail(raw);
    const app = await appOf(String(appName));
    const t = await transferApp(ctx.cluster, app.name, recipient, c.principal!.user.email);
    ctx.log.info({ app: app.name, from: t.from, to: t.to, by: c.principal!.user.email }, 'app-transferred');
    const now = new Date().toISOString();
    return {
      status: 201,
      body: { id: t.id, app: { id: app.id ?? app.name, name: app.name }, owner: { email: t.from }, recipient: { email: t.to }, state: 'accepted', created_at: now, updated_at: now },
    };
  });
}
