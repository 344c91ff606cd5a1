/**
 * The access policy: one rule per route, as data. Every server of the control
 * plane (Platform API, git smart HTTP, builds, add-ons, logs and log sessions,
 * dyno attach) registers its routes through `ApiRouter`, which refuses a route
 * that has no rule here; `test/access/policy.test.ts` walks every registered
 * route with an owner, a collaborator, another user, scoped, expired and no
 * tokens. Rules, checked in `authorize.ts`:
 *
 *   public              anyone, no token
 *   static              anyone, no token: the dashboard's bundled files (HTML, JS, CSS), never data;
 *                       the page then calls the API with the user's token like any client
 *   node                a request signed by an enrolled dyno-node (cluster/node-credential.ts); the
 *                       handler limits it to the releases placed on that node. `peers`: or another control
 *   peer                another control instance (the peer token derived from the cluster key)
 *   session             a signed log-session URL; its user's access is checked again on connect
 *   account(scopes)     any account whose token has one of `scopes`; the handler acts on that account
 *   admin               an admin account through a global token for every app (else 403)
 *   app(actions)        a member of the app named by `:app` (or the git repo, or the body's `app`)
 *                       doing one of `actions`; a non-member gets the same 404 as for no such app
 *
 * App actions, and who may do them:
 *
 *   action     what                                           scopes                role
 *   read       look at the app (not config vars or source)    read, write, global   owner, collaborator
 *   protected  config vars, release config, git clone/fetch   write, global         owner, collaborator
 *   write      change the app, run dynos, drains, add-ons      write, global         owner, collaborator
 *   deploy     git push, create builds, read build output      deploy, write, global owner, collaborator
 *   manage     destroy, transfer, add or remove collaborators  write, global         owner
 *
 * Admins act as owners of every app (an operator must reach them all), except
 * through a token limited to one app or a deploy token.
 */
import type { TokenScope } from '../../cluster/records.ts';

export type AppAction = 'read' | 'protected' | 'write' | 'deploy' | 'manage';

export type Rule =
  | { kind: 'public' }
  | { kind: 'static' }
  | { kind: 'node'; peers?: boolean }
  | { kind: 'peer' }
  | { kind: 'session' }
  | { kind: 'account'; scopes: readonly TokenScope[]; everyApp?: boolean }
  | { kind: 'admin' }
  | { kind: 'app'; actions: readonly AppAction[]; from: 'app' | 'repo' | 'body'; gitService?: boolean };

export const SCOPE_ACTIONS: Record<TokenScope, readonly AppAction[]> = {
  global: ['read', 'protected', 'write', 'deploy', 'manage'],
  write: ['read', 'protected', 'write', 'deploy', 'manage'],
  read: ['read'],
  deploy: ['deploy'],
};

export const ROLE_ACTIONS: Record<'owner' | 'collaborator' | 'admin', readonly AppAction[]> = {
  owner: ['read', 'protected', 'write', 'deploy', 'manage'],
  admin: ['read', 'protected', 'write', 'deploy', 'manage'],
  collaborator: ['read', 'protected', 'write', 'deploy'],
};

const PUBLIC: Rule = { kind: 'public' };
const STATIC: Rule = { kind: 'static' };
const NODE: Rule = { kind: 'node' };
const NODE_OR_PEER: Rule = { kind: 'node', peers: true };
const PEER: Rule = { kind: 'peer' };
const ADMIN: Rule = { kind: 'admin' };
const ANY_TOKEN: Rule = { kind: 'account', scopes: ['global', 'write', 'read', 'deploy'] };
const LOOKING: Rule = { kind: 'account', scopes: ['global', 'write', 'read'] };
const GLOBAL: Rule = { kind: 'account', scopes: ['global'] };
const app = (...actions: AppAction[]): Rule => ({ kind: 'app', actions, from: 'app' });

/** `METHOD /pattern` (as registered) → rule. HEAD is served as GET. */
export const POLICY: Readonly<Record<string, Rule>> = {
  'GET /health': PUBLIC,

  // the web dashboard (dashboard/): `/` redirects to it
  'GET /': STATIC,
  'GET /dashboard/*file': STATIC,

  // accounts and tokens
  'GET /account': ANY_TOKEN,
  'GET /oauth/authorizations': GLOBAL,
  'POST /oauth/authorizations': GLOBAL,
  'GET /oauth/authorizations/:id': GLOBAL,
  'DELETE /oauth/authorizations/:id': GLOBAL,
  'GET /users': ADMIN,
  'POST /users': ADMIN,
  'DELETE /users/:email': ADMIN,

  // apps
  'GET /apps': LOOKING,
  'POST /apps': { kind: 'account', scopes: ['global', 'write'], everyApp: true },
  'GET /apps/:app': app('read'),
  'PATCH /apps/:app': app('write'),
  'DELETE /apps/:app': app('manage'),
  'GET /apps/:app/collaborators': app('read'),
  'POST /apps/:app/collaborators': app('manage'),
  'DELETE /apps/:app/collaborators/:email': app('manage'),
  'POST /account/app-transfers': { kind: 'app', actions: ['manage'], from: 'body' },

  // config, releases, formation, dynos
  'GET /apps/:app/config-vars': app('protected'),
  'PATCH /apps/:app/config-vars': app('write'),
  'GET /apps/:app/releases': app('read'),
  'GET /apps/:app/releases/:ref': app('read'),
  'GET /apps/:app/releases/:ref/config-vars': app('protected'),
  'GET /apps/:app/releases/:ref/output': app('read', 'deploy'),
  'GET /apps/:app/cron': app('read'),
  'POST /apps/:app/releases': app('write'),
  'GET /apps/:app/formation': app('read'),
  'PATCH /apps/:app/formation': app('write'),
  'GET /apps/:app/formation/:type': app('read'),
  'PATCH /apps/:app/formation/:type': app('write'),
  'GET /apps/:app/dynos': app('read'),
  'POST /apps/:app/dynos': app('write'),
  'GET /apps/:app/dynos/:dyno': app('read'),
  'DELETE /apps/:app/dynos': app('write'),
  'DELETE /apps/:app/dynos/:dyno': app('write'),
  'POST /apps/:app/dynos/:dyno/actions/stop': app('write'),
  // the attach server (WebSocket upgrade, `dynomesh run`)
  'GET /apps/:app/dynos/:dyno/attach': app('write'),

  // domains
  'GET /apps/:app/domains': app('read'),
  'POST /apps/:app/domains': app('write'),
  'GET /apps/:app/domains/:host': app('read'),
  'DELETE /apps/:app/domains/:host': app('write'),

  // certificates (SNI endpoints), automatic certificates, app features (http-redirect, hsts)
  'GET /apps/:app/sni-endpoints': app('read'),
  'POST /apps/:app/sni-endpoints': app('write'),
  'GET /apps/:app/sni-endpoints/:id': app('read'),
  'PATCH /apps/:app/sni-endpoints/:id': app('write'),
  'DELETE /apps/:app/sni-endpoints/:id': app('write'),
  'GET /apps/:app/acm': app('read'),
  'POST /apps/:app/acm': app('write'),
  'PATCH /apps/:app/acm': app('write'),
  'DELETE /apps/:app/acm': app('write'),
  'GET /apps/:app/features': app('read'),
  'GET /apps/:app/features/:name': app('read'),
  'PATCH /apps/:app/features/:name': app('write'),

  // builds and git
  'GET /apps/:app/builds': app('read', 'deploy'),
  'POST /apps/:app/builds': app('deploy'),
  'GET /apps/:app/builds/:id': app('read', 'deploy'),
  'GET /apps/:app/builds/:id/output': app('read', 'deploy'),
  'GET /apps/:app/buildpack-installations': app('read'),
  'PUT /apps/:app/buildpack-installations': app('write'),
  // info/refs: `service=git-receive-pack` is a push (deploy), anything else a clone or fetch (protected)
  'GET /:repo/info/refs': { kind: 'app', actions: ['protected'], from: 'repo', gitService: true },
  'POST /:repo/git-upload-pack': { kind: 'app', actions: ['protected'], from: 'repo' },
  'POST /:repo/git-receive-pack': { kind: 'app', actions: ['deploy'], from: 'repo' },

  // logs
  'GET /apps/:app/logs': app('read'),
  'POST /apps/:app/log-sessions': app('read'),
  'GET /log-sessions/:token': { kind: 'session' },
  'GET /apps/:app/log-drains': app('read'),
  'GET /apps/:app/log-drains/*ref': app('read'),
  'POST /apps/:app/log-drains': app('write'),
  'DELETE /apps/:app/log-drains/*ref': app('write'),

  // add-ons
  'GET /addon-services': LOOKING,
  'GET /apps/:app/addons': app('read'),
  'POST /apps/:app/addons': app('write'),
  'GET /apps/:app/addons/:addon': app('read'),
  'PATCH /apps/:app/addons/:addon': app('write'),
  'DELETE /apps/:app/addons/:addon': app('write'),

  // metrics and usage (control/metrics, control/usage)
  'GET /apps/:app/metrics': app('read'),
  'GET /apps/:app/usage': app('read'),
  'GET /account/usage': ADMIN,
  'GET /metrics/apps': ADMIN,

  // cluster
  'GET /nodes': ADMIN,
  'GET /nodes/:node': ADMIN,
  'POST /nodes/:node/cordon': ADMIN,
  'DELETE /nodes/:node/cordon': ADMIN,
  'POST /nodes/:node/credential': ADMIN,
  'DELETE /nodes/:node/credential': ADMIN,
  'GET /internal/slugs/:sha': NODE_OR_PEER,
  'GET /internal/releases/:app/:version': NODE,
  'GET /internal/logs/:app': PEER,
  'GET /metrics': ADMIN,
};

/** The rule for a route as registered; undefined means the route must not be served. */
export function ruleFor(method: string, pattern: string): Rule | undefined {
  return POLICY[`${method.toUpperCase()} ${pattern}`];
}
