/**
 * A history or tail request for an app another instance owns: proxied to the
 * owner's `/internal/logs/:app` with the node token, streamed back as it comes
 * (pipe keeps backpressure end to end, so a slow reader is still cut off by the
 * owner's L11 rule). If the owner dies mid-stream the client's response is cut
 * too, and the client resumes (the new owner takes over once the dead member's
 * lease expires).
 */
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ServerResponse } from 'node:http';
import type { LogMember } from '../../logplex/owners.ts';
import { ControlError } from '../errors.ts';
import { toSearch, type LogQuery } from './filter.ts';

export function forwardStream(owner: LogMember, app: string, q: LogQuery, peerToken: string, res: ServerResponse): Promise<void> {
  const url = new URL(`${owner.api.replace(/\/$/, '')}/internal/logs/${encodeURIComponent(app)}?${toSearch(q)}`);
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : request)(url, { headers: { authorization: `Bearer ${peerToken}` } }, (up) => {
      const headers: Record<string, string> = {};
      for (const h of ['content-type', 'cache-control', 'x-accel-buffering', 'dynomesh-log-owner', 'dynomesh-api-peers']) {
        const v = up.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      if (up.statusCode !== 200) {
        if (up.headers['content-type']?.includes('json')) headers['content-type'] = up.headers['content-type'];
        res.writeHead(up.statusCode ?? 502, headers);
      } else {
        res.writeHead(200, headers);
        res.flushHeaders();
      }
      up.pipe(res);
      // The owner cut us off without a clean end: cut the client too, so it resumes.
      up.on('aborted', () => res.destroy());
      up.on('error', () => res.destroy());
      up.on('end', () => resolve());
      res.on('close', () => {
        up.destroy();
        resolve();
      });
    });
    req.on('error', (err) => {
      if (res.headersSent) {
        res.destroy();
        resolve();
      } else {
        reject(new ControlError(503, 'unavailable', `the log service instance ${owner.id} that owns ${app} is unreachable (${(err as NodeJS.ErrnoException).code ?? err.message}); it is taken over once its lease expires, retry shortly`));
      }
    });
    res.on('close', () => req.destroy());
    req.end();
  });
}
