/**
 * Applies a route's rule from `policy.ts` to a request: the one access check
 * for every server of the control plane. It reads the caller's account, token
 * and membership from etcd on every request (no cache), so a removed
 * collaborator or a revoked token is refused on the next request.
 */
import type { IncomingMessage } from 'node:http';
import type { Cluster } from '../../cluster/client.ts';
import { roleOn, type Role } from '../access/members.ts';
import { isAdmin, type Principal } from '../access/principal.ts';
import { appNotFound, forbidden } from '../errors.ts';
import { authenticateNode, authenticatePeer, authenticateUser, type AuthDeps } from './auth.ts';
import { ROLE_ACTIONS, SCOPE_ACTIONS, type AppAction, type Rule } from './policy.ts';

export interface Granted {
  principal?: Principal;
  role?: Role;
  /** The enrolled dyno-node that signed the request (node routes; absent for a control peer). */
  node?: string;
}

/** The app a rule names: a path param, the git repo (`<app>.git`) or the JSON body's `app`. */
async function appNameOf(rule: Extract<Rule, { kind: 'app' }>, params: Record<string, string>, body: () => Promise<unknown>): Promise<string> {
  if (rule.from === 'app') return params.app ?? '';
  if (rule.from === 'repo') return /^(.+)\.git$/.exec(params.repo ?? '')?.[1] ?? params.repo ?? '';
  const b = await body();
  const a = b !== null && typeof b === 'object' ? (b as { app?: unknown }).app : undefined;
  const name = typeof a === 'string' ? a : a !== null && typeof a === 'object' ? (a as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? name : '';
}

/** The actions this request would perform under the rule (git info/refs: by its service). */
function actionsOf(rule: Extract<Rule, { kind: 'app' }>, url: URL): readonly AppAction[] {
  if (rule.gitService) return url.searchParams.get('service') === 'git-receive-pack' ? ['deploy'] : ['protected'];
  return rule.actions;
}

/** A member whose token and role both allow one of the actions; the app's role, or a 404/403 error. */
export async function authorizeApp(cluster: Cluster, p: Principal, app: string, actions: readonly AppAction[]): Promise<Role> {
  const found = await roleOn(cluster, p, app);
  // Not a member and no such app answer the same, so names are not revealed.
  if (!found) throw appNotFound(app);
  const byScope = actions.filter((a) => SCOPE_ACTIONS[p.scope].includes(a));
  if (!byScope.length) throw forbidden(`this token's scope (${p.scope}) does not allow that on ${app}; use a token with scope ${scopeFor(actions)}`);
  if (!byScope.some((a) => ROLE_ACTIONS[found.role].includes(a))) {
    throw forbidden(`only the owner of ${app} can do that (you are a ${found.role}); ask ${found.app.owner}`);
  }
  return found.role;
}

const scopeFor = (actions: readonly AppAction[]) => (actions.includes('deploy') ? 'deploy, write or global' : actions.includes('read') ? 'read, write or global' : 'write or global');

export async function authorize(
  deps: AuthDeps,
  rule: Rule,
  req: IncomingMessage,
  url: URL,
  params: Record<string, string>,
  body: () => Promise<unknown>,
): Promise<Granted> {
  switch (rule.kind) {
    case 'public':
    case 'static':
    case 'session': // the handler verifies the signed URL and its user's access
      return {};
    case 'node': {
      const node = await authenticateNode(deps, req, rule.peers ?? false);
      return node ? { node } : {};
    }
    case 'peer':
      authenticatePeer(deps, req);
      return {};
    case 'admin': {
      const principal = await authenticateUser(deps, req);
      if (!isAdmin(principal)) throw forbidden('this needs an admin account and a global token (`dynomesh login` as an admin)');
      return { principal };
    }
    case 'account': {
      const principal = await authenticateUser(deps, req);
      if (!rule.scopes.includes(principal.scope)) throw forbidden(`this token's scope (${principal.scope}) does not allow that; use a token with scope ${rule.scopes.join(' or ')}`);
      if (rule.everyApp && principal.token.app !== undefined) throw forbidden(`this token is limited to the app ${principal.token.app}`);
      return { principal };
    }
    case 'app': {
      const principal = await authenticateUser(deps, req);
      const role = await authorizeApp(deps.cluster, principal, await appNameOf(rule, params, body), actionsOf(rule, url));
      return { principal, role };
    }
  }
}
