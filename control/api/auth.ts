/**
 * Who is calling: a bearer token (`Authorization: Bearer dm_...`) or HTTP basic
 * with the token as password (git and the Heroku CLI send that). Other control
 * instances present the peer token; a dyno-node signs each request with its own
 * credential (cluster/node-credential.ts), checked against its enrolment in etcd
 * on every request, so a revoked node is refused at its next request. Failures are
 * counted per client address (`auth-limiter.ts`) and logged without the token.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Cluster } from '../../cluster/client.ts';
import { nodeSecret, parseSignature, verifySignature } from '../../cluster/node-credential.ts';
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

const MESSAGES: Record<TokenRefusal | 'node' | 'peer', string> = {
  unknown: 'invalid or revoked API token; run `dynomesh login` with a valid token',
  expired: 'this API token has expired; create a new one with `dynomesh authorizations:create`',
  'no-account': 'the account of this API token was removed; ask an admin for an account',
  node: 'this route needs a request signed with an enrolled node\'s credential (`dynomesh nodes:enroll`)',
  peer: 'this route is for other control instances (the peer token derived from the cluster key)',
};

/** The path for logs: log-session URLs carry a capability in the path, so it is cut. */
export const loggablePath = (url: string | undefined): string => {
  const path = (url ?? '/').split('?')[0]!;
  return path.startsWith('/log-sessions/') ? '/log-sessions/…' : path;
};

export interface AuthDeps {
  cluster: Cluster;
  /** Opens nodes' enrolments (node-credentials/). */
  clusterKey: Buffer;
  peerToken: string;
  log: Logger;
}

/** Throws 429 (with Retry-After) while the caller's address is over the failure limit. */
function checkLimit(deps: AuthDeps, req: IncomingMessage): void {
  const wait = authLimiter(deps.cluster).retryAfter(clientAddress(req));
  if (wait > 0) throw new ControlError(429, 'rate_limited', `too many failed logins from your address; try again in ${wait} s`, { 'retry-after': String(wait) });
}

function failed(deps: AuthDeps, req: IncomingMessage, reason: TokenRefusal | 'node' | 'peer'): ControlError {
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

/** Another control instance (its peer token); 401 otherwise. */
export function authenticatePeer(deps: AuthDeps, req: IncomingMessage): void {
  const presented = presentedToken(req);
  if (!presented) throw unauthorized(MESSAGES.peer);
  checkLimit(deps, req);
  if (!sameSecret(presented, deps.peerToken)) throw failed(deps, req, 'peer');
}

/**
 * An enrolled dyno-node (its id) or, where `peers` allows, another control
 * instance (undefined). The node's enrolment is read from etcd every time.
 */
export async function authenticateNode(deps: AuthDeps, req: IncomingMessage, peers: boolean): Promise<string | undefined> {
  const signed = parseSignature(req.headers.authorization);
  if (!signed) {
    if (peers && presentedToken(req)) {
      authenticatePeer(deps, req);
      return undefined;
    }
    throw unauthorized(MESSAGES.node);
  }
  checkLimit(deps, req);
  const secret = await nodeSecret(deps.cluster, deps.clusterKey, signed.node);
  if (!secret || !verifySignature(secret, signed, 'node', req.method ?? 'GET', req.url ?? '/')) throw failed(deps, req, 'node');
  return signed.node;
}
