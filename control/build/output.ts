/**
 * One build's output: kept on disk (served by the builds API afterwards) and
 * fanned out live to the pusher and to anyone following `builds/:id/output`.
 * Past `limit` bytes the rest is dropped from the file and the followers with
 * one note, so a chatty buildpack cannot fill the disk; the pusher still sees it all.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type OutputListener = (chunk: Buffer | null) => void;

export class BuildOutput {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;
  private readonly listeners = new Set<OutputListener>();
  private readonly file: WriteStream;
  finished = false;

  constructor(path: string, private readonly limit = 16 * 1024 * 1024) {
    mkdirSync(dirname(path), { recursive: true });
    this.file = createWriteStream(path, { mode: 0o600 });
    this.file.on('error', () => undefined); // a full disk must not fail the build; the pusher still gets the output
  }

  write(data: string | Buffer): void {
    if (this.finished) return;
    let buf = typeof data === 'string' ? Buffer.from(data) : data;
    if (buf.length === 0) return;
    if (this.truncated) return;
    if (this.size + buf.length > this.limit) {
      buf = Buffer.concat([buf.subarray(0, Math.max(0, this.limit - this.size)), Buffer.from(`\n !     build output over ${this.limit} bytes; the rest is not kept\n`)]);
      this.truncated = true;
    }
    this.size += buf.length;
    this.chunks.push(buf);
    this.file.write(buf);
    for (const l of this.listeners) l(buf);
  }

  /** Everything so far, then each new chunk, then null at the end. Returns the unsubscribe function. */
  follow(listener: OutputListener): () => void {
    const sofar = Buffer.concat(this.chunks);
    if (sofar.length) listener(sofar);
    if (this.finished) {
      listener(null);
      return () => undefined;
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async end(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    for (const l of this.listeners) l(null);
    this.listeners.clear();
    await new Promise<void>((resolve) => this.file.end(() => resolve()));
  }
}
