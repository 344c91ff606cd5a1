/**
 * The producer -> log service protocol: a TCP stream of frames, each a 4-byte
 * big-endian length and a msgpackr body.
 *
 *   producer -> service  [BATCH, seq, hops, records]   records: [app, source, dyno, ts, line][]
 *   service  -> producer [ACK, seq]                    the batch is stored (or forwarded on)
 *   service  -> service  [HANDOFF, app, records]       an app's history, sent to its new owner
 *   service  -> producer [HELLO, nonce]                first frame on every connection
 *   producer -> service  [AUTH, id, proof]             first frame back (logplex/credential.ts); nothing
 *                                                      else is read before it, and a bad one closes
 *
 * A producer keeps each batch until it is acked and resends the unacked ones on
 * its next connection, so a batch is lost only with the instance that acked it.
 * A batch holds at most MAX_BATCH_BYTES of records (a handoff is sent in chunks
 * of that size), so the service can refuse any frame over MAX_FRAME.
 */
import { Packr } from 'msgpackr';
import { isAppName } from '../cluster/keys.ts';
import { isDynoName, isProcessType } from '../cluster/names.ts';
import { MAX_LINE_BYTES, type LogRecord, type Source } from './record.ts';

export const BATCH = 1;
export const ACK = 2;
export const HANDOFF = 3;
export const HELLO = 4;
export const AUTH = 5;

/** A batch is forwarded between instances at most this many times (owner views can briefly disagree). */
export const MAX_HOPS = 3;
/** What a producer puts in one batch (and a handoff in one chunk), by `wireBytes`. */
export const MAX_BATCH_BYTES = 1024 * 1024;
/** Refuse frames above this: a corrupt or hostile length must not make us allocate. Batches stay under it by construction. */
export const MAX_FRAME = 4 * MAX_BATCH_BYTES;
/** Before a producer has authenticated, only its AUTH frame (about 300 bytes) may arrive. */
export const MAX_AUTH_FRAME = 1024;

export type WireRecord = [app: string, source: Source, dyno: string, ts: number, line: string];

export type Frame =
  | [typeof BATCH, number, number, WireRecord[]]
  | [typeof ACK, number]
  | [typeof HANDOFF, string, WireRecord[]]
  | [typeof HELLO, Buffer]
  | [typeof AUTH, string, Buffer];

const packr = new Packr({ useRecords: false, moreTypes: false });

export const toWire = (r: LogRecord): WireRecord => [r.app, r.source, r.dyno, r.ts, r.line];
export const fromWire = (w: WireRecord): LogRecord => ({ app: w[0], source: w[1], dyno: w[2], ts: w[3], line: w[4] });

/** An upper bound of a record's encoded size, cheap enough for every record (a UTF-16 unit is at most 3 UTF-8 bytes). */
export function wireBytes(w: WireRecord): number {
  return Math.min(w[4].length * 3, MAX_LINE_BYTES) + w[0].length + w[2].length * 3 + 32;
}

/** Splits records into chunks of at most MAX_BATCH_BYTES (by `wireBytes`), in order. */
export function chunkWire(recs: WireRecord[]): WireRecord[][] {
  const out: WireRecord[][] = [];
  let cur: WireRecord[] = [];
  let bytes = 0;
  for (const w of recs) {
    const b = wireBytes(w);
    if (cur.length && bytes + b > MAX_BATCH_BYTES) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(w);
    bytes += b;
  }
  if (cur.length) out.push(cur);
  return out;
}

export function encodeFrame(f: Frame): Buffer {
  const body = packr.pack(f);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

export class FrameError extends Error {
  override name = 'FrameError';
}

/**
 * Reassembles frames from socket chunks. It holds at most one frame (at most
 * `max` bytes) plus what arrived after it; `max` may change between frames
 * (the service reads the AUTH frame with a smaller limit).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private have = 0;

  constructor(public max = MAX_FRAME) {}

  /** Bytes received and not yet returned as frames. */
  get buffered(): number {
    return this.have;
  }

  feed(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.have += chunk.length;
  }

  /** The next complete frame, or undefined until more arrives. Throws FrameError on garbage or an oversized length. */
  next(): Frame | undefined {
    if (this.have < 4) return undefined;
    if (this.chunks[0]!.length < 4) this.chunks = [Buffer.concat(this.chunks, this.have)];
    const len = this.chunks[0]!.readUInt32BE(0);
    if (len > this.max) throw new FrameError(`frame of ${len} bytes is over the ${this.max} limit`);
    if (this.have < 4 + len) return undefined;
    // Concatenated only once the whole frame is here, so a large frame costs no quadratic copying.
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.have);
    const rest = buf.subarray(4 + len);
    this.chunks = rest.length ? [rest] : [];
    this.have = rest.length;
    let f: unknown;
    try {
      f = packr.unpack(buf.subarray(4, 4 + len));
    } catch (err) {
      throw new FrameError(`undecodable frame: ${(err as Error).message}`);
    }
    if (!Array.isArray(f) || typeof f[0] !== 'number') throw new FrameError('frame is not [type, ...]');
    return f as Frame;
  }

  /** Feed a chunk; returns the complete frames it finished. */
  push(chunk: Buffer): Frame[] {
    this.feed(chunk);
    const out: Frame[] = [];
    for (let f = this.next(); f; f = this.next()) out.push(f);
    return out;
  }
}

/** A dyno (`web.1`) or a source's own name (`router`, `api`), bounded as a stored field is. */
const dynoField = (d: string): boolean => d.length <= 41 && (isDynoName(d) || isProcessType(d));

/**
 * Checks a decoded wire record: a producer of another version (or a hostile one)
 * must not crash the service, name an impossible app, or store a line over
 * Heroku's 10,000 bytes (producers split longer lines).
 */
export function validWire(w: unknown): w is WireRecord {
  if (!Array.isArray(w) || w.length !== 5) return false;
  const [app, source, dyno, ts, line] = w as unknown[];
  return typeof app === 'string' && isAppName(app) && (source === 'app' || source === 'heroku') &&
    typeof dyno === 'string' && dynoField(dyno) && typeof ts === 'number' && Number.isFinite(ts) &&
    typeof line === 'string' && (line.length * 3 <= MAX_LINE_BYTES || Buffer.byteLength(line) <= MAX_LINE_BYTES);
}
