/**
 * Request-head checks the router answers itself:
 *   - 431 when the whole head (request line to the blank line) is over
 *     `--max-head-size` (default 16384 bytes). uWS enforces the same number
 *     for heads that arrive over several reads (router/uws.ts sets
 *     UWS_HTTP_MAX_HEADERS_SIZE from it before the addon loads) and answers
 *     those with its own 431; heads that arrive in one read reach us whatever
 *     their size, so the limit is ours to enforce there.
 *   - 400 (Heroku/vegur limits, and ambiguous framing that enables request smuggling):
 *     - request line (method + target) over 8192 bytes
 *     - a header line over 8192 bytes, or more than 1000 headers
 *     - more than one Host header, or none
 *     - Content-Length together with Transfer-Encoding
 *     - more than one Content-Length (even equal ones), or one that is not digits
 *     - a Transfer-Encoding other than `chunked` (uWS would treat any TE as chunked)
 *     - CONNECT (a router is not a forward proxy)
 *     - CR, LF or NUL in a header name or value or in the target, and a target
 *       that is not origin-form (`/...`; `*` only for OPTIONS): header injection
 *       towards the dyno (the build we load drops most of these itself)
 *
 * What the loaded uWS build answers (or does not) before our handler runs is
 * measured per build in router/uws-builds.ts and logged at start (`uws-build`).
 */

/** Default for --max-head-size: a head up to 16 KB is served however it is segmented. */
export const DEFAULT_MAX_HEAD_SIZE = 16384;
export const MAX_REQUEST_LINE = 8192;
export const MAX_HEADER_LINE = 8192;
export const MAX_HEADERS = 1000;

/** Why a head is refused: 431 (over the head size limit) or 400 (everything else). */
export interface HeadProblem {
  status: 400 | 431;
  reason: string;
}

const bad = (reason: string): HeadProblem => ({ status: 400, reason });

/** Bytes that would split or end a header line on the way to the dyno. */
const LINE_BREAKING = /[\r\n\0]/;

/**
 * Bytes of the head as the client sent it, counting one space after each colon
 * and no optional whitespace (uWS gives names and values trimmed), so it can be a
 * few bytes under the wire size; uWS's own split-head limit counts the wire bytes.
 */
export function headBytes(method: string, target: string, pairs: readonly string[]): number {
  let n = method.length + target.length + 14; // "M T HTTP/1.1\r\n" + the final "\r\n"
  for (let i = 0; i < pairs.length; i += 2) n += pairs[i]!.length + pairs[i + 1]!.length + 4; // "k: v\r\n"
  return n;
}

export interface HeadFacts {
  /** The single Host value (as sent). */
  host: string;
  /** Content-Length, or -1 when absent. */
  contentLength: number;
  chunked: boolean;
  /** Lowercased tokens of the Connection header (hop-by-hop headers it names). */
  connectionTokens: string[] | null;
}

/**
 * Inspects a head given as [name, value, name, value...] (lowercase names).
 * Returns why it is refused, or null. The size limit is checked first, so an
 * oversized head gets 431 whatever else is wrong with it (as uWS answers a split one).
 */
export function checkHead(method: string, target: string, pairs: readonly string[], facts: HeadFacts, maxHeadSize = Infinity): HeadProblem | null {
  facts.host = '';
  facts.contentLength = -1;
  facts.chunked = false;
  facts.connectionTokens = null;
  const size = headBytes(method, target, pairs);
  if (size > maxHeadSize) return { status: 431, reason: `request head of ${size} bytes is over the ${maxHeadSize}-byte limit` };
  if (method.length + target.length + 10 > MAX_REQUEST_LINE) return bad(`request line longer than ${MAX_REQUEST_LINE} bytes`);
  if (method === 'CONNECT') return bad('CONNECT is not supported'); // a router, not a forward proxy (as Heroku)
  if (target.charCodeAt(0) !== 47 /* / */ && !(target === '*' && method === 'OPTIONS')) return bad('request target must start with /');
  if (LINE_BREAKING.test(target)) return bad('CR, LF or NUL in the request target');
  if (pairs.length / 2 > MAX_HEADERS) return bad(`more than ${MAX_HEADERS} headers`);
  let hosts = 0;
  let cls = 0;
  let te: string | null = null;
  for (let i = 0; i < pairs.length; i += 2) {
    const k = pairs[i]!;
    const v = pairs[i + 1]!;
    if (k.length + v.length + 2 > MAX_HEADER_LINE) return bad(`header line ${k} longer than ${MAX_HEADER_LINE} bytes`);
    if (LINE_BREAKING.test(v) || LINE_BREAKING.test(k)) return bad('CR, LF or NUL in a header');
    switch (k) {
      case 'host':
        hosts++;
        facts.host = v;
        break;
      case 'content-length':
        cls++;
        if (!/^\d{1,15}$/.test(v)) return bad('invalid Content-Length');
        facts.contentLength = Number(v);
        break;
      case 'transfer-encoding':
        if (te !== null) te += ', ' + v;
        else te = v;
        break;
      case 'connection':
        facts.connectionTokens = ((facts.connectionTokens ?? []) as string[]).concat(v.toLowerCase().split(',').map((s) => s.trim()).filter(Boolean));
        break;
    }
  }
  if (hosts > 1) return bad('more than one Host header');
  if (hosts === 0 || facts.host === '') return bad('missing Host header');
  if (cls > 1) return bad('more than one Content-Length header');
  if (te !== null) {
    if (cls > 0) return bad('both Content-Length and Transfer-Encoding');
    if (te.trim().toLowerCase() !== 'chunked') return bad(`unsupported Transfer-Encoding "${te}" (only chunked)`);
    facts.chunked = true;
  }
  return null;
}
