/**
 * Who is calling: a bearer token (`Authorization: Bearer dm_...`) or HTTP basic
 * with the token as password (git and the Heroku CLI send that). Dyno-nodes and
 * other control instances present the cluster's node token. Failures are
 * counted per client address (`auth-limiter.ts`) and logged without the token.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Cluster } from '../../cluster/client.ts';
import type { Logger } from '../../lib/log.ts';
import { principalOf, type Principal } from '../access/principal.ts';
import { ControlError, unauthorized } from '../errors.ts';
import { verifyToken, type TokenRefusal } from '../tokens.ts';
import { authLimiter } from './auth-limiter.ts';
import { clientAddress } from './client-address.ts';

/** The presented secret, from Bearer or Basic (password, or the user name when the password is empty). */
export function presentedToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^(\w+)\s+(.+)$/.exec(h.trim());
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'bearer') return m[2]!.trim();
  if (scheme === 'basic') {
    const decoded = Buffer.from(m[2]!.trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const user = i < 0 ? decoded : decoded.slice(0, i);
    const pass = i < 0 ? '' : decoded.slice(i + 1);
    return pass || user || undefined;
  }
  return undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const MESSAGES: Record<TokenRefusal | 'node', string> = {
  unknown: 'invalid or revoked API token; run `dynomesh login` with a valid token',
  expired: 'this API token has expired; create a new one with `dynomesh authorizations:create`',
  'no-account': 'the account of this API token was removed; ask an admin for an account',
  node: 'this route needs the node token derived from the cluster key',
};

/** The path for logs: log-session URLs carry a capability in the path, so it is cut. */
export const loggablePath = (url: string | undefined): string => {
  const path = (url ?? '/').split('?')[0]!;
  return path.startsWith('/log-sessions/') ? '/log-sessions/…' : path;
};

export interface AuthDeps {
  cluster: Cluster;
  nodeToken: string;
  log: Logger;
}

/** Throws 429 (with Retry-After) while the caller's address is over the failure limit. */
function checkLimit(deps: AuthDeps, req: IncomingMessage): void {
  const wait = authLimiter(deps.cluster).retryAfter(clientAddress(req));
  if (wait > 0) throw new ControlError(429, 'rate_limited', `too many failed logins from your address; try again in ${wait} s`, { 'retry-after': String(wait) });
}

function failed(deps: AuthDeps, req: IncomingMessage, reason: TokenRefusal | 'node'): ControlError {
  const address = clientAddress(req);
  authLimiter(deps.cluster).fail(address);
  deps.log.warn({ address, reason, method: req.method, path: loggablePath(req.url) }, 'auth-failed');
  return unauthorized(MESSAGES[reason]);
}

export const NO_TOKEN = 'this request needs an API token: send "Authorization: Bearer <token>" (run `dynomesh login`)';

/** The caller's account and token; 401 when missing or not valid, 429 while rate limited. */
export async function authenticateUser(deps: AuthDeps, req: IncomingMessage): Promise<Principal> {
  const presented = presentedToken(req);
  if (!presented) throw unauthorized(NO_TOKEN);
  checkLimit(deps, req);
  const found = await verifyToken(deps.cluster, presented);
  if ('refused' in found) throw failed(deps, req, found.refused);
  return principalOf(found.token, found.user);
}

/** The node token (daemon-to-daemon routes). */
export function authenticateNode(deps: AuthDeps, req: IncomingMessage): void {
  const presented = presentedToken(req);
  if (!presented) throw unauthorized(MESSAGES.node);
  checkLimit(deps, req);
  if (!sameSecret(presented, deps.nodeToken)) throw failed(deps, req, 'node');
}
