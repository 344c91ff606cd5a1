/**
 * Git's smart HTTP endpoints on the API server, authenticated like every API
 * route (basic auth with an API token as the password, or a bearer token):
 *   GET  /<app>.git/info/refs?service=git-upload-pack|git-receive-pack
 *   POST /<app>.git/git-upload-pack     (clone, fetch)
 *   POST /<app>.git/git-receive-pack    (push: pre-receive builds and deploys)
 */
import { isAppName } from '../../cluster/keys.ts';
import type { ControlContext } from '../context.ts';
import { ControlError, notFound } from '../errors.ts';
import type { ApiRouter, RequestContext } from '../api/router.ts';
import type { HookServer } from './hook-server.ts';
import { httpBackend } from './http-backend.ts';
import type { RepoStore } from './repos.ts';

const SERVICES = new Set(['git-upload-pack', 'git-receive-pack']);

export function gitRoutes(r: ApiRouter, ctx: ControlContext, repos: RepoStore, hooks: HookServer): void {
  const serve = (service: (c: RequestContext) => string | undefined) => async (c: RequestContext) => {
    const m = /^(.+)\.git$/.exec(c.params.repo ?? '');
    if (!m || !isAppName(m[1]!)) throw notFound(`no such API resource or repository: ${c.url.pathname}`);
    const app = m[1]!;
    const svc = service(c);
    if (!svc || !SERVICES.has(svc)) {
      throw new ControlError(403, 'forbidden', 'only git smart HTTP is served: use git 1.6.6 or newer (service=git-upload-pack or git-receive-pack)');
    }
    const entry = await ctx.cluster.get(ctx.cluster.keys.app(app));
    if (!entry) throw notFound(`no such app: ${app}; create it first with \`dynomesh create ${app}\``);
    const repoDir = await repos.ensure(app, entry.value.id ?? String(entry.value.createdAt));
    const user = c.token?.user ?? 'unknown';
    const env: Record<string, string> = {};
    let release = () => {};
    if (svc === 'git-receive-pack' && c.req.method === 'POST') {
      const reg = hooks.register({ app, user, repoDir });
      release = reg.release;
      env.DYNOMESH_HOOK_SOCKET = hooks.socketPath;
      env.DYNOMESH_PUSH_SECRET = reg.secret;
    }
    try {
      await httpBackend({
        req: c.req, res: c.res, projectRoot: repos.root, pathInfo: `/${app}.git${c.url.pathname.slice(c.url.pathname.indexOf('.git/') + 4)}`,
        query: c.url.search.replace(/^\?/, ''), remoteUser: user, env, log: c.log,
      });
    } finally {
      release();
    }
    return undefined;
  };
  r.get('/:repo/info/refs', serve((c) => c.url.searchParams.get('service') ?? undefined));
  r.post('/:repo/git-upload-pack', serve(() => 'git-upload-pack'));
  r.post('/:repo/git-receive-pack', serve(() => 'git-receive-pack'));
}
