/**
 * Router error codes (Heroku's H codes) -> HTTP status and description, and the
 * small HTML page sent with them. The code also goes into the router log line
 * (`at=error code=H12 desc="Request timeout"`). Pages are prebuilt once.
 */

export type ErrorCode = 'H10' | 'H12' | 'H13' | 'H14' | 'H15' | 'H18' | 'H19' | 'H21' | 'H27' | 'H80' | 'H99' | 'BAD' | 'BIG' | 'NOAPP';

export interface ErrorSpec {
  status: number;
  desc: string;
  /** `status` as uWS wants it ("503 Service Unavailable"). */
  statusLine: string;
  page: Buffer;
}

const SPECS: Record<ErrorCode, [number, string, string]> = {
  H10: [503, 'App crashed', 'Service Unavailable'],
  H12: [503, 'Request timeout', 'Service Unavailable'],
  H13: [503, 'Connection closed without response', 'Service Unavailable'],
  H14: [503, 'No web processes running', 'Service Unavailable'],
  H15: [503, 'Idle connection', 'Service Unavailable'],
  H18: [503, 'Server Request Interrupted', 'Service Unavailable'],
  H19: [503, 'Backend connection timeout', 'Service Unavailable'],
  H21: [503, 'Backend connection refused', 'Service Unavailable'],
  H27: [499, 'Client Request Interrupted', 'Client Closed Request'],
  H80: [503, 'Maintenance mode', 'Service Unavailable'],
  H99: [503, 'Platform error', 'Service Unavailable'],
  BAD: [400, 'Bad request', 'Bad Request'],
  BIG: [431, 'Request head too large', 'Request Header Fields Too Large'],
  NOAPP: [404, 'No such app', 'Not Found'],
};

function page(title: string, body: string): Buffer {
  return Buffer.from(
    `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${title}</title>` +
      '<style>body{font-family:sans-serif;margin:4em auto;max-width:36em;color:#333}</style></head>' +
      `<body><h1>${title}</h1><p>${body}</p></body></html>\n`,
  );
}

const HINT: Partial<Record<ErrorCode, string>> = {
  H80: 'This app is in maintenance mode. Please check back soon.',
  H14: 'There are no web dynos running for this app.',
  NOAPP: 'There is no app configured at that hostname.',
  BAD: 'The request was malformed and the router refused it.',
  BIG: 'The request line and headers together are larger than this router accepts.',
};

export const ERRORS = Object.fromEntries(
  Object.entries(SPECS).map(([code, [status, desc, reason]]) => [
    code,
    {
      status,
      desc,
      statusLine: `${status} ${reason}`,
      page: page(code === 'H80' ? 'Offline for Maintenance' : code === 'NOAPP' ? 'No such app' : 'Application error', HINT[code as ErrorCode] ?? 'An error occurred in the application and your page could not be served. Please try again in a few moments.'),
    },
  ]),
) as Record<ErrorCode, ErrorSpec>;

/** Codes that are not router failures in Heroku's sense (no `code=` in the log line). */
export const isHerokuCode = (c: ErrorCode): boolean => c !== 'BAD' && c !== 'BIG' && c !== 'NOAPP';
