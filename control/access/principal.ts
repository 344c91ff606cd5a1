/**
 * Who is calling, once their token checked out: the token and its account.
 * Admin rights come from the account, and only through a global-scope token
 * that is not limited to one app, so a scoped CI token of an admin is just that.
 */
import type { Token, TokenScope, User } from '../../cluster/records.ts';

export interface Principal {
  token: Token;
  user: User;
  scope: TokenScope;
}

export const principalOf = (token: Token, user: User): Principal => ({ token, user, scope: token.scope ?? 'global' });

/** Admin powers: an admin account, through a global token for every app. */
export const isAdmin = (p: Principal): boolean => p.user.admin && p.scope === 'global' && p.token.app === undefined;

/** An admin account seeing every app (any scope that can look, not limited to one app). */
export const seesEveryApp = (p: Principal): boolean => p.user.admin && p.scope !== 'deploy' && p.token.app === undefined;
