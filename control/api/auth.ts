/**
 * Who is calling: a bearer token (`Authorization: Bearer dm_...`) or HTTP basic
 * with the token as password (git and the Heroku CLI send that). Dyno-nodes
 * present the cluster's node token to fetch slugs.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Cluster } from '../../cluster/client.ts';
import type { Token } from '../../cluster/records.ts';
import { forbidden, unauthorized } from '../errors.ts';
import { verifyToken } from '../tokens.ts';
import type { AuthLevel } from './router.ts';

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

/** Checks the request against the route's level; throws 401/403 ControlErrors. */
export async function authenticate(
  cluster: Cluster,
  nodeToken: string,
  req: IncomingMessage,
  level: AuthLevel,
): Promise<Token | undefined> {
  if (level === 'none') return undefined;
  const presented = presentedToken(req);
  if (!presented) throw unauthorized('this request needs an API token: send "Authorization: Bearer <token>" (run `dynomesh login`)');
  if (level === 'node') {
    if (sameSecret(presented, nodeToken)) return undefined;
    throw unauthorized('slug downloads need the node token derived from the cluster key');
  }
  const token = await verifyToken(cluster, presented);
  if (!token) throw unauthorized('invalid or revoked API token; run `dynomesh login` with a valid token');
  if (level === 'admin' && !token.admin) throw forbidden('this needs an admin token');
  return token;
}
