/**
 * Request-head checks the router answers with 400 (Heroku/vegur limits, and
 * ambiguous framing that enables request smuggling):
 *   - request line (method + target) over 8192 bytes
 *   - a header line over 8192 bytes, or more than 1000 headers
 *   - more than one Host header, or none
 *   - Content-Length together with Transfer-Encoding
 *   - more than one Content-Length (even equal ones), or one that is not digits
 *   - a Transfer-Encoding other than `chunked` (uWS would treat any TE as chunked)
 *   - CONNECT (a router is not a forward proxy)
 *
 * What uWS 20.30 (the build this machine loads) does before our handler runs,
 * so the router cannot answer 400 itself and the client sees a closed
 * connection instead (tested in test/router/limits.test.ts):
 *   - CL + TE in the same head, `Content-Length: 5, 5` / `+5` / `abc`: FIN, no status
 *   - a head split across reads and larger than 4096 bytes: FIN, no status
 *   - more than 48 headers: no handler call (up to ~1000 headers: hangs until uWS's idle close; more: FIN)
 *   - HTTP/1.0, absolute-form targets, a missing Host: no handler call, closed after ~10 s
 *   - Content-Length of 1,000,000,000 or more (10+ digits): FIN. Larger uploads work with
 *     Transfer-Encoding: chunked, which has no size limit (1 GiB tested in bodies.test.ts)
 * Heads that arrive in one read and keep under 48 headers reach the handler
 * whatever their size, so the 8192-byte line limits are ours to enforce.
 */

export const MAX_REQUEST_LINE = 8192;
export const MAX_HEADER_LINE = 8192;
export const MAX_HEADERS = 1000;

export interface HeadFacts {
  /** The single Host value (as sent). */
  host: string;
  /** Content-Length, or -1 when absent. */
  contentLength: number;
  chunked: boolean;
  /** Lowercased tokens of the Connection header (hop-by-hop headers it names). */
  connectionTokens: string[] | null;
}

/** Inspects a head given as [name, value, name, value...] (lowercase names). Returns why it is refused, or null. */
export function checkHead(method: string, target: string, pairs: readonly string[], facts: HeadFacts): string | null {
  if (method.length + target.length + 10 > MAX_REQUEST_LINE) return `request line longer than ${MAX_REQUEST_LINE} bytes`;
  if (method === 'CONNECT') return 'CONNECT is not supported'; // a router, not a forward proxy (as Heroku)
  if (pairs.length / 2 > MAX_HEADERS) return `more than ${MAX_HEADERS} headers`;
  let hosts = 0;
  let cls = 0;
  let te: string | null = null;
  facts.host = '';
  facts.contentLength = -1;
  facts.chunked = false;
  facts.connectionTokens = null;
  for (let i = 0; i < pairs.length; i += 2) {
    const k = pairs[i]!;
    const v = pairs[i + 1]!;
    if (k.length + v.length + 2 > MAX_HEADER_LINE) return `header line ${k} longer than ${MAX_HEADER_LINE} bytes`;
    switch (k) {
      case 'host':
        hosts++;
        facts.host = v;
        break;
      case 'content-length':
        cls++;
        if (!/^\d{1,15}$/.test(v)) return 'invalid Content-Length';
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
  if (hosts > 1) return 'more than one Host header';
  if (hosts === 0 || facts.host === '') return 'missing Host header';
  if (cls > 1) return 'more than one Content-Length header';
  if (te !== null) {
    if (cls > 0) return 'both Content-Length and Transfer-Encoding';
    if (te.trim().toLowerCase() !== 'chunked') return `unsupported Transfer-Encoding "${te}" (only chunked)`;
    facts.chunked = true;
  }
  return null;
}
