/**
 * Errors the control plane's operations raise for the user: each carries the
 * HTTP status and a stable Heroku-style id, and a message that says what was
 * wrong and what to do. The API turns them into `{id, message}` bodies.
 */
export type ErrorId =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'invalid_params'
  | 'payload_too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'internal_error';

export class ControlError extends Error {
  override name = 'ControlError';
  constructor(
    readonly status: number,
    readonly id: ErrorId,
    message: string,
    /** Extra response headers (Retry-After on a 429). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (m: string) => new ControlError(400, 'bad_request', m);
export const unauthorized = (m: string) => new ControlError(401, 'unauthorized', m);
export const forbidden = (m: string) => new ControlError(403, 'forbidden', m);
export const notFound = (m: string) => new ControlError(404, 'not_found', m);
export const conflict = (m: string) => new ControlError(409, 'conflict', m);
export const invalid = (m: string) => new ControlError(422, 'invalid_params', m);

export const appNotFound = (app: string) => notFound(`Couldn't find that app: ${app}. Check the name with \`dynomesh apps\`.`);
