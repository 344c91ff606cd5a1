/**
 * Every failure leaves the API as JSON `{id, message}` with the right status,
 * never a stack trace. Unexpected errors are logged with the request id and
 * answered with a 500 that names it.
 */
import type { ServerResponse } from 'node:http';
import { KeyError } from '../../cluster/keys.ts';
import { ClusterError, ConflictError, UnavailableError } from '../../cluster/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { ControlError, type ErrorId } from '../errors.ts';

export function toApiError(err: unknown, requestId: string, log: Logger): { status: number; id: ErrorId; message: string; headers?: Record<string, string> } {
  if (err instanceof ControlError) return { status: err.status, id: err.id, message: err.message, headers: err.headers };
  // A path segment that can never name anything (e.g. an app name with capitals): nothing by that name.
  if (err instanceof KeyError) return { status: 404, id: 'not_found', message: `not found: ${err.message.replace(/ for an etcd key$/, '')}` };
  // A read-modify-write that kept losing to concurrent writers (cluster/retry-txn.ts).
  if (err instanceof ConflictError) return { status: 409, id: 'conflict', message: err.message };
  if (err instanceof UnavailableError) {
    log.error({ err: (err as Error).message, requestId }, 'etcd-unavailable');
    return { status: 503, id: 'unavailable', message: 'the cluster store (etcd) is unreachable; nothing was changed, try again shortly' };
  }
  if (err instanceof ClusterError && err.code === 'DM_SEALED') {
    log.error({ err: err.message, requestId }, 'config-unseal-failed');
    return { status: 500, id: 'internal_error', message: `config vars cannot be opened with this instance's cluster key (request ${requestId})` };
  }
  log.error({ err, requestId }, 'request-failed');
  return { status: 500, id: 'internal_error', message: `internal error; see the control plane log for request ${requestId}` };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(res.req?.method === 'HEAD' ? undefined : text);
}

export function sendError(res: ServerResponse, err: unknown, requestId: string, log: Logger): void {
  const e = toApiError(err, requestId, log);
  const headers: Record<string, string> = { ...e.headers };
  if (e.status === 401) headers['www-authenticate'] = 'Basic realm="dynomesh", Bearer';
  sendJson(res, e.status, { id: e.id, message: e.message }, headers);
}
