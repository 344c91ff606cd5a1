/**
 * Git's smart HTTP protocol through the real `git http-backend` (CGI): the request
 * body streams into it, its reply (CGI headers, then the pack protocol) streams
 * back as it comes, which is how build output reaches the pusher while
 * pre-receive runs. A client that goes away kills the backend and with it the hook.
 */
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../../lib/log.ts';

export interface BackendRequest {
  req: IncomingMessage;
  res: ServerResponse;
  projectRoot: string;
  /** `/<app>.git/info/refs` etc. */
  pathInfo: string;
  query: string;
  remoteUser: string;
  env?: Record<string, string>;
  log: Logger;
}

export async function httpBackend(o: BackendRequest): Promise<void> {
  const { req, res } = o;
  const h = req.headers;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GIT_PROJECT_ROOT: o.projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    GIT_HTTP_MAX_REQUEST_BUFFER: '100M',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: o.pathInfo,
    QUERY_STRING: o.query,
    REMOTE_USER: o.remoteUser,
    REMOTE_ADDR: req.socket.remoteAddress ?? '',
    CONTENT_TYPE: h['content-type'] ?? '',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    GATEWAY_INTERFACE: 'CGI/1.1',
    ...(h['content-length'] ? { CONTENT_LENGTH: h['content-length'] } : {}),
    ...(h['content-encoding'] ? { HTTP_CONTENT_ENCODING: h['content-encoding'] } : {}),
    ...(typeof h['git-protocol'] === 'string' ? { GIT_PROTOCOL: h['git-protocol'] } : {}),
    ...o.env,
  };
  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', () => resolve(-1));
    child.on('close', (code) => resolve(code));
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    if (stderr.length < 4096) stderr += b.toString();
  });
  res.on('close', () => {
    if (!res.writableFinished) child.kill('SIGTERM');
  });
  const feed = pipeline(req, child.stdin).catch(() => undefined);

  // CGI reply: header lines, a blank line, then the body, passed on untouched.
  let head = Buffer.alloc(0);
  let headersDone = false;
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    if (headersDone) {
      if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      continue;
    }
    head = Buffer.concat([head, chunk]);
    let end = head.indexOf('\r\n\r\n');
    let sep = 4;
    if (end < 0) {
      end = head.indexOf('\n\n');
      sep = 2;
    }
    if (end < 0) continue;
    headersDone = true;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i < 0) continue;
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]) || 500;
      else headers[name] = value;
    }
    res.writeHead(status, headers);
    const rest = head.subarray(end + sep);
    if (rest.length) res.write(rest);
  }
  const code = await exited;
  await feed;
  if (!headersDone) {
    o.log.error({ code, stderr: stderr.trim().slice(0, 500) }, 'git-http-backend-failed');
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('git http-backend failed\n');
    return;
  }
  if (code !== 0 && stderr) o.log.warn({ code, stderr: stderr.trim().slice(0, 500) }, 'git-http-backend-exit');
  res.end();
}
