/**
 * The Platform API's HTTP server (node:http): request id, route match, auth,
 * handler, JSON reply; errors through `errors.ts`. Routes live in `routes/`,
 * one file per resource.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../lib/log.ts';
import { badRequest, ControlError, notFound } from '../errors.ts';
import { authenticateUser, loggablePath, type AuthDeps } from './auth.ts';
import { authorize } from './authorize.ts';
import { sendError, sendJson } from './errors.ts';
import type { ApiRouter, RequestContext } from './router.ts';
import type { Cluster } from '../../cluster/client.ts';

export const MAX_BODY = 1024 * 1024;

export async function readJson(req: IncomingMessage, limit = MAX_BODY): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ControlError(413, 'payload_too_large', `request body is over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('request body is not valid JSON; send a JSON object with Content-Type: application/json');
  }
}

export class ApiServer {
  readonly server: Server;
  private readonly auth: AuthDeps;

  constructor(
    private readonly router: ApiRouter,
    cluster: Cluster,
    clusterKey: Buffer,
    peerToken: string,
    private readonly log: Logger,
  ) {
    this.auth = { cluster, clusterKey, peerToken, log };
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 65_000;
  }

  private async handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const requestId = typeof req.headers['x-request-id'] === 'string' && /^[\w+/=-]{20,200}$/.test(req.headers['x-request-id'])
      ? req.headers['x-request-id']
      : randomUUID();
    res.setHeader('request-id', requestId);
    const started = Date.now();
    res.on('finish', () => this.log.debug({ method: req.method, path: loggablePath(req.url), status: res.statusCode, ms: Date.now() - started, requestId }, 'api-request'));
    try {
      const url = new URL(req.url ?? '/', 'http://control.invalid');
      const m = this.router.match(req.method ?? 'GET', url.pathname);
      if (!m || 'allowed' in m) {
        // Authenticate first so an anonymous caller learns nothing about which paths exist.
        await authenticateUser(this.auth, req);
        if (m) throw new ControlError(405, 'bad_request', `${req.method} is not supported on ${url.pathname}; use ${m.allowed.join(', ')}`);
        throw notFound(`no such API resource: ${req.method} ${url.pathname}`);
      }
      let body: Promise<unknown> | undefined;
      const readBody = () => (body ??= readJson(req));
      // The one access check: the route's rule from policy.ts, before any handler runs.
      const granted = await authorize(this.auth, m.route.rule, req, url, m.params, readBody);
      const ctx: RequestContext = {
        req, res, url, params: m.params, log: this.log, body: readBody,
        token: granted.principal?.token, principal: granted.principal, role: granted.role, node: granted.node,
      };
      const reply = await m.route.handler(ctx);
      if (reply) sendJson(res, reply.status ?? 200, reply.body, reply.headers);
    } catch (err) {
      if (!req.complete) req.resume(); // drain an unread body so keep-alive goes on
      sendError(res, err, requestId, this.log);
    }
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      setTimeout(() => this.server.closeAllConnections(), 2000).unref();
    });
  }
}
