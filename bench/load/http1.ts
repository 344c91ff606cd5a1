/**
 * A minimal incremental HTTP/1.1 response parser for the open-loop generator: finds
 * where each response ends (Content-Length or chunked) without building header objects.
 * Enough for the bench's backends and proxies; not a general client.
 */
const CRLFCRLF = Buffer.from('\r\n\r\n');

const enum State { Head, Body, ChunkLine, ChunkData, Trailer }

export class ResponseParser {
  private state = State.Head;
  private pending: Buffer | undefined; // unfinished head or chunk-size/trailer line
  private left = 0;
  private status = 0;
  private bytes = 0;

  /** Called once per complete response with its status and total bytes on the wire. */
  constructor(private readonly onResponse: (status: number, bytes: number) => void) {}

  /** Throws on a response it cannot frame (e.g. no Content-Length and not chunked). */
  feed(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let i = 0;
    while (i < buf.length) {
      switch (this.state) {
        case State.Head: {
          const end = buf.indexOf(CRLFCRLF, i);
          if (end < 0) { this.pending = buf.subarray(i); return; }
          const head = buf.toString('latin1', i, end);
          this.bytes = end + 4 - i;
          i = end + 4;
          this.status = Number(head.slice(9, 12));
          const lower = head.toLowerCase();
          const cl = /\r\ncontent-length:\s*(\d+)/.exec(lower);
          if (this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200)) {
            if (this.status >= 200) this.done();
            continue;
          }
          if (/\r\ntransfer-encoding:[^\r]*chunked/.test(lower)) this.state = State.ChunkLine;
          else if (cl) {
            this.left = Number(cl[1]);
            this.state = State.Body;
            if (this.left === 0) this.done();
          } else throw new Error(`response ${this.status} has neither Content-Length nor chunked framing`);
          break;
        }
        case State.Body: {
          const n = Math.min(this.left, buf.length - i);
          this.left -= n;
          this.bytes += n;
          i += n;
          if (this.left === 0) this.done();
          break;
        }
        case State.ChunkLine:
        case State.Trailer: {
          const eol = buf.indexOf('\r\n', i);
          if (eol < 0) { this.pending = buf.subarray(i); return; }
          const line = buf.toString('latin1', i, eol);
          this.bytes += eol + 2 - i;
          i = eol + 2;
          if (this.state === State.Trailer) {
            if (line === '') this.done();
            continue;
          }
          const size = parseInt(line, 16);
          if (!Number.isFinite(size)) throw new Error(`bad chunk size line "${line}"`);
          if (size === 0) this.state = State.Trailer;
          else { this.left = size + 2; this.state = State.ChunkData; }
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.left, buf.length - i);
          this.left -= n;
          this.bytes += n;
          i += n;
          if (this.left === 0) this.state = State.ChunkLine;
          break;
        }
      }
    }
  }

  /** True between responses (nothing half-read). */
  get idle(): boolean {
    return this.state === State.Head && !this.pending;
  }

  private done(): void {
    this.state = State.Head;
    const { status, bytes } = this;
    this.bytes = 0;
    this.onResponse(status, bytes);
  }
}

/** The raw bytes of one request, built once and written as they are for every request. */
export function buildRequest(method: string, path: string, host: string, body?: Buffer, extraHeaders: Record<string, string> = {}): Buffer {
  let head = `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n`;
  for (const [k, v] of Object.entries(extraHeaders)) head += `${k}: ${v}\r\n`;
  if (body) head += `Content-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n`;
  head += '\r\n';
  return body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1');
}
