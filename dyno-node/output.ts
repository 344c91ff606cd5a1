/**
 * Dyno output. A dyno's stdout/stderr go to a file the agent opened (not a
 * pipe), so the dyno survives the agent dying and a restarted agent picks the
 * file up again; `FileTail` turns it into log records for a `LogSink`.
 *
 * Records: `{app, dyno, source:'app', ts, line}` for the dyno's lines and
 * `source:'heroku'` for lifecycle lines ("State changed from starting to up"),
 * as Heroku's `app[web.1]` / `heroku[web.1]`.
 */
import { open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../lib/log.ts';

export interface LogRecord {
  app: string;
  dyno: string;
  source: 'app' | 'heroku';
  ts: number;
  line: string;
}

/** Where log records go; the log service plugs in here later. */
export interface LogSink {
  write(rec: LogRecord): void;
}

/** Heroku splits lines over 10000 bytes. */
export const MAX_LINE = 10_000;

/** The last `size` records per dyno, for `ps`-side debugging and tests until the log service exists. */
export class RingSink implements LogSink {
  private readonly rings = new Map<string, LogRecord[]>();
  constructor(private readonly size = 1500) {}

  write(rec: LogRecord): void {
    const k = `${rec.app}/${rec.dyno}`;
    let ring = this.rings.get(k);
    if (!ring) this.rings.set(k, (ring = []));
    ring.push(rec);
    if (ring.length > this.size) ring.splice(0, ring.length - this.size);
  }

  lines(app: string, dyno: string): LogRecord[] {
    return [...(this.rings.get(`${app}/${dyno}`) ?? [])];
  }

  forget(app: string, dyno: string): void {
    this.rings.delete(`${app}/${dyno}`);
  }
}

/** Writes each record to the agent's pino log. */
export class PinoSink implements LogSink {
  constructor(private readonly log: Logger) {}
  write(rec: LogRecord): void {
    this.log.info({ app: rec.app, dyno: rec.dyno, source: rec.source, ts: rec.ts }, `${rec.source}[${rec.dyno}]: ${rec.line}`);
  }
}

export function fanOut(...sinks: LogSink[]): LogSink {
  return { write: (rec) => sinks.forEach((s) => s.write(rec)) };
}

/**
 * Follows a dyno's output file by polling, like `tail -F`. When the file grows
 * past `rotateBytes` and everything has been read, it is truncated in place:
 * the dyno writes with O_APPEND, so its next line lands at the new end.
 */
export class FileTail {
  private fh: FileHandle | undefined;
  private offset = 0;
  private partial = '';
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();
  private readonly buf = Buffer.alloc(64 * 1024);
  private readonly decoder = new StringDecoder('utf8');

  constructor(
    readonly path: string,
    private readonly emit: (line: string) => void,
    private readonly pollMs = 200,
    private readonly rotateBytes = 8 * 1024 * 1024,
  ) {}

  /** Start at `fromEnd` (adopting a running dyno: earlier lines were already shipped) or at the start. */
  private started: Promise<void> | undefined;

  start(fromEnd = false): Promise<void> {
    return (this.started ??= this.open(fromEnd));
  }

  private async open(fromEnd: boolean): Promise<void> {
    this.fh = await open(this.path, 'r');
    if (fromEnd) this.offset = (await this.fh.stat()).size;
    this.timer = setInterval(() => this.poll(), this.pollMs);
    this.timer.unref();
  }

  /** Read what is left (the dyno exited) and stop. */
  async stop(): Promise<void> {
    await this.started?.catch(() => undefined);
    clearInterval(this.timer);
    this.timer = undefined;
    await this.poll();
    if (this.partial) this.emit(this.partial);
    this.partial = '';
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
  }

  private poll(): Promise<void> {
    this.reading = this.reading.then(() => this.drain()).catch(() => undefined);
    return this.reading;
  }

  private async drain(): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    if ((await fh.stat()).size < this.offset) this.offset = 0; // truncated under us
    for (;;) {
      const { bytesRead } = await fh.read(this.buf, 0, this.buf.length, this.offset);
      if (bytesRead === 0) break;
      this.offset += bytesRead;
      const parts = (this.partial + this.decoder.write(this.buf.subarray(0, bytesRead))).split('\n');
      this.partial = parts.pop() ?? '';
      for (const p of parts) this.line(p);
      while (this.partial.length > MAX_LINE) {
        this.emit(this.partial.slice(0, MAX_LINE));
        this.partial = this.partial.slice(MAX_LINE);
      }
    }
    if (this.offset > this.rotateBytes && this.partial === '') {
      const size = (await stat(this.path)).size;
      if (size === this.offset) {
        await truncate(this.path, 0);
        this.offset = 0;
      }
    }
  }

  private line(l: string): void {
    if (l.endsWith('\r')) l = l.slice(0, -1);
    for (let i = 0; i < l.length || i === 0; i += MAX_LINE) this.emit(l.slice(i, i + MAX_LINE));
  }
}
