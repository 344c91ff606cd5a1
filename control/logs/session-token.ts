/**
 * Log sessions (`POST /apps/:app/log-sessions`, Heroku's API): the answer is a
 * `logplex_url` any instance can serve without shared state. The URL carries the
 * app, the query, which API token asked (by its sha256, the name etcd stores it
 * under, never the token: its account, scope and membership are checked again
 * when the URL is used and while it streams) and an expiry (5 minutes to
 * connect, as Heroku's), signed with an HMAC keyed from the cluster key.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { unauthorized } from '../errors.ts';
import type { LogQuery } from './filter.ts';

/** Who created a session: checked against the app's members on every use. */
export interface SessionUser {
  /** sha256 (hex) of the API token that created it. */
  token: string;
}

export const SESSION_TTL_MS = 5 * 60_000;

interface Claims {
  app: string;
  q: LogQuery;
  exp: number;
  who: SessionUser;
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function mac(key: Buffer, body: string): Buffer {
  return createHmac('sha256', key).update('dynomesh-log-session-v1\0').update(body).digest();
}

export function signSession(key: Buffer, app: string, q: LogQuery, who: SessionUser, now = Date.now()): { token: string; expiresAt: number } {
  const exp = now + SESSION_TTL_MS;
  const body = b64(JSON.stringify({ app, q, exp, who } satisfies Claims));
  return { token: `${body}.${b64(mac(key, body))}`, expiresAt: exp };
}

export function verifySession(key: Buffer, token: string, now = Date.now()): { app: string; q: LogQuery; who: SessionUser } {
  const [body, sig] = token.split('.');
  if (!body || !sig) throw unauthorized('this log session URL is malformed; create a new one with POST /apps/:app/log-sessions');
  const want = mac(key, body);
  const got = Buffer.from(sig, 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw unauthorized('this log session URL is not valid for this cluster; create a new one');
  const c = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Claims;
  if (c.exp < now) throw unauthorized('this log session URL expired (they last 5 minutes); create a new one');
  // Sessions signed before they named their user cannot be checked against the app's members.
  if (!c.who || typeof c.who.token !== 'string') throw unauthorized('this log session URL is from an older version; create a new one');
  return { app: c.app, q: c.q, who: c.who };
}
