/**
 * The API's route table: `METHOD /apps/:app/...` patterns with named params and
 * the auth each route needs. Other control features (git, builds, logs) add
 * their routes here; `raw` routes get the untouched request to stream it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Token } from '../../cluster/records.ts';
import type { Logger } from '../../lib/log.ts';

/** `user`: any valid API token; `admin`: an admin token; `node`: the cluster's node token; `none`: public. */
export type AuthLevel = 'user' | 'admin' | 'node' | 'none';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  /** The caller's token record (absent for node and public routes). */
  token: Token | undefined;
  /** The parsed JSON body (`{}` when empty); 400 when it is not JSON. */
  body(): Promise<unknown>;
  log: Logger;
}

export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Returns a Reply to send as JSON, or undefined when the handler wrote the response itself. */
export type Handler = (ctx: RequestContext) => Promise<Reply | undefined>;

interface Route {
  method: string;
  parts: string[];
  auth: AuthLevel;
  handler: Handler;
}

export interface Match {
  route: { auth: AuthLevel; handler: Handler };
  params: Record<string, string>;
}

export class ApiRouter {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, auth: AuthLevel, handler: Handler): this {
    this.routes.push({ method: method.toUpperCase(), parts: pattern.split('/').filter(Boolean), auth, handler });
    return this;
  }

  get = (p: string, h: Handler, auth: AuthLevel = 'user') => this.add('GET', p, auth, h);
  post = (p: string, h: Handler, auth: AuthLevel = 'user') => this.add('POST', p, auth, h);
  patch = (p: string, h: Handler, auth: AuthLevel = 'user') => this.add('PATCH', p, auth, h);
  delete = (p: string, h: Handler, auth: AuthLevel = 'user') => this.add('DELETE', p, auth, h);

  /** The route for a method and path; `allowed` lists methods when only the path matched. */
  match(method: string, path: string): Match | { allowed: string[] } | undefined {
    const segs = path.split('/').filter(Boolean).map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
    const allowed: string[] = [];
    for (const r of this.routes) {
      const params = matchParts(r.parts, segs);
      if (!params) continue;
      const m = method === 'HEAD' ? 'GET' : method;
      if (r.method === m) return { route: r, params };
      allowed.push(r.method);
    }
    return allowed.length ? { allowed } : undefined;
  }
}

function matchParts(parts: string[], segs: string[]): Record<string, string> | undefined {
  const last = parts[parts.length - 1];
  const rest = last?.startsWith('*');
  if (rest ? segs.length < parts.length - 1 : segs.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.startsWith('*')) {
      params[p.slice(1) || 'rest'] = segs.slice(i).join('/');
      return params;
    }
    if (p.startsWith(':')) params[p.slice(1)] = segs[i]!;
    else if (p !== segs[i]) return undefined;
  }
  return params;
}
