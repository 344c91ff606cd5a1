/**
 * The API's route table: `METHOD /apps/:app/...` patterns with named params.
 * Other control features (git, builds, logs, add-ons, attach) add their routes
 * here. Each route's access rule comes from `policy.ts` when it is added: a
 * route with no rule there is refused at start, so none can forget one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Token } from '../../cluster/records.ts';
import type { Logger } from '../../lib/log.ts';
import type { Principal } from '../access/principal.ts';
import type { Role } from '../access/members.ts';
import { ruleFor, type Rule } from './policy.ts';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  /** The caller's token record (absent for node, session and public routes). */
  token: Token | undefined;
  /** The caller's account and token, once the policy let them in (absent as `token`). */
  principal: Principal | undefined;
  /** The caller's role on the route's app, for app routes. */
  role: Role | undefined;
  /** The enrolled dyno-node that signed the request (node routes; absent for a control peer). */
  node?: string | undefined;
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

export interface Route {
  method: string;
  pattern: string;
  parts: string[];
  rule: Rule;
  handler: Handler;
}

export interface Match {
  route: Route;
  params: Record<string, string>;
}

export class ApiRouter {
  private readonly table: Route[] = [];

  /** Every route, in the order added (the access test walks them). */
  get routes(): readonly Route[] {
    return this.table;
  }

  add(method: string, pattern: string, handler: Handler): this {
    const m = method.toUpperCase();
    const rule = ruleFor(m, pattern);
    if (!rule) throw new Error(`route ${m} ${pattern} has no access rule; add one to control/api/policy.ts`);
    this.table.push({ method: m, pattern, parts: pattern.split('/').filter(Boolean), rule, handler });
    return this;
  }

  get = (p: string, h: Handler) => this.add('GET', p, h);
  post = (p: string, h: Handler) => this.add('POST', p, h);
  put = (p: string, h: Handler) => this.add('PUT', p, h);
  patch = (p: string, h: Handler) => this.add('PATCH', p, h);
  delete = (p: string, h: Handler) => this.add('DELETE', p, h);

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
    for (const r of this.table) {
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
