/**
 * The producer -> log service protocol: a TCP stream of frames, each a 4-byte
 * big-endian length and a msgpackr body.
 *
 *   producer -> service  [BATCH, seq, hops, records]   records: [app, source, dyno, ts, line][]
 *   service  -> producer [ACK, seq]                    the batch is stored (or forwarded on)
 *   service  -> service  [HANDOFF, app, records]       an app's history, sent to its new owner
 *
 * A producer keeps each batch until it is acked and resends the unacked ones on
 * its next connection, so a batch is lost only with the instance that acked it.
 */
import { Packr } from 'msgpackr';
import type { LogRecord, Source } from './record.ts';

export const BATCH = 1;
export const ACK = 2;
export const HANDOFF = 3;

/** A batch is forwarded between instances at most this many times (owner views can briefly disagree). */
export const MAX_HOPS = 3;
/** Refuse frames above this: a corrupt length must not make us allocate gigabytes. */
export const MAX_FRAME = 64 * 1024 * 1024;

export type WireRecord = [app: string, source: Source, dyno: string, ts: number, line: string];

export type Frame =
  | [typeof BATCH, number, number, WireRecord[]]
  | [typeof ACK, number]
  | [typeof HANDOFF, string, WireRecord[]];

const packr = new Packr({ useRecords: false, moreTypes: false });

export const toWire = (r: LogRecord): WireRecord => [r.app, r.source, r.dyno, r.ts, r.line];
export const fromWire = (w: WireRecord): LogRecord => ({ app: w[0], source: w[1], dyno: w[2], ts: w[3], line: w[4] });

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

/** Reassembles frames from socket chunks. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  /** Feed a chunk; returns the complete frames it finished. Throws FrameError on garbage. */
  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    let off = 0;
    while (this.buf.length - off >= 4) {
      const len = this.buf.readUInt32BE(off);
      if (len > MAX_FRAME) throw new FrameError(`frame of ${len} bytes is over the ${MAX_FRAME} limit`);
      if (this.buf.length - off - 4 < len) break;
      let f: unknown;
      try {
        f = packr.unpack(this.buf.subarray(off + 4, off + 4 + len));
      } catch (err) {
        throw new FrameError(`undecodable frame: ${(err as Error).message}`);
      }
      if (!Array.isArray(f) || typeof f[0] !== 'number') throw new FrameError('frame is not [type, ...]');
      out.push(f as Frame);
      off += 4 + len;
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
    return out;
  }
}

/** Checks a decoded wire record; a producer of another version must not crash the service. */
export function validWire(w: unknown): w is WireRecord {
  return Array.isArray(w) && w.length === 5 && typeof w[0] === 'string' && (w[1] === 'app' || w[1] === 'heroku') &&
    typeof w[2] === 'string' && typeof w[3] === 'number' && typeof w[4] === 'string';
}
