/**
 * The log service of one control instance: a TCP listener for producers
 * (logplex/wire.ts frames), the per-app store for the apps this instance owns,
 * and forwarding of everything else to its owner. See README.md for the design.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { LogMembers } from '../../logplex/owners.ts';
import type { LogRecord } from '../../logplex/record.ts';
import type { LogShipper } from '../../logplex/shipper.ts';
import { ACK, BATCH, encodeFrame, FrameReader, fromWire, HANDOFF, MAX_HOPS, validWire, type Frame } from '../../logplex/wire.ts';
import { LogStore } from './store.ts';

export class LogService {
  readonly store = new LogStore();
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private shipper: LogShipper | undefined;
  private unwatch: (() => void) | undefined;
  /** `host:port` producers reach us on (advertised in our member record). */
  address = '';
  received = 0;

  constructor(readonly id: string, readonly members: LogMembers, private readonly log: Logger) {}

  /** The shipper that forwards non-owned records and hands history over (the instance's own producer). */
  attach(shipper: LogShipper): void {
    this.shipper = shipper;
    this.unwatch = this.members.onChange(() => this.rebalance());
  }

  owns(app: string): boolean {
    return this.members.owner(app)?.id === this.id;
  }

  /**
   * Records for us from a producer or a peer. Ours are stored; others go to their
   * owner, at most MAX_HOPS passes (views of the member set can briefly disagree),
   * after which we keep them rather than bounce them forever.
   */
  ingest(recs: LogRecord[], hops: number): void {
    this.received += recs.length;
    let mine: LogRecord[] | undefined;
    let theirs: LogRecord[] | undefined;
    for (const r of recs) {
      if (hops >= MAX_HOPS || this.owns(r.app) || !this.shipper || !this.members.owner(r.app)) (mine ??= []).push(r);
      else (theirs ??= []).push(r);
    }
    if (mine) this.store.append(mine);
    if (theirs) this.shipper!.forward(theirs, hops + 1);
  }

  async listen(host: string, port: number, advertiseHost?: string): Promise<string> {
    const server = (this.server = createServer((s) => this.accept(s)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address() as { address: string; port: number };
    const h = advertiseHost ?? (a.address === '0.0.0.0' || a.address === '::' ? '127.0.0.1' : a.address);
    this.address = `${h.includes(':') ? `[${h}]` : h}:${a.port}`;
    this.log.info({ address: this.address }, 'log-service-listening');
    return this.address;
  }

  private accept(s: Socket): void {
    this.sockets.add(s);
    s.setNoDelay(true);
    const reader = new FrameReader();
    s.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.log.warn({ peer: s.remoteAddress, err: (err as Error).message }, 'log-producer-bad-frame');
        s.destroy();
        return;
      }
      for (const f of frames) this.frame(s, f);
    });
    s.on('error', () => undefined);
    s.on('close', () => this.sockets.delete(s));
  }

  private frame(s: Socket, f: Frame): void {
    if (f[0] === BATCH) {
      const [, seq, hops, wire] = f;
      const recs: LogRecord[] = [];
      if (Array.isArray(wire)) for (const w of wire) if (validWire(w)) recs.push(fromWire(w));
      if (recs.length) this.ingest(recs, typeof hops === 'number' ? hops : 0);
      s.write(encodeFrame([ACK, seq]));
    } else if (f[0] === HANDOFF) {
      const [, app, wire] = f;
      if (typeof app !== 'string' || !Array.isArray(wire)) return;
      const recs = wire.filter(validWire).map(fromWire);
      if (this.owns(app)) {
        this.store.prepend(app, recs);
        this.log.info({ app, lines: recs.length }, 'log-history-received');
      }
    }
  }

  /** The member set changed: apps we no longer own go, with their history, to their new owner. */
  private rebalance(): void {
    for (const app of this.store.appNames()) {
      const owner = this.members.owner(app);
      if (!owner || owner.id === this.id) continue;
      const recs = this.store.release(app, `moved to ${owner.id}`);
      if (recs.length && this.shipper) this.shipper.handoff(owner, [HANDOFF, app, recs.map((r) => [r.app, r.source, r.dyno, r.ts, r.line])]);
      this.log.info({ app, to: owner.id, lines: recs.length }, 'log-app-handed-off');
    }
  }

  async close(): Promise<void> {
    this.unwatch?.();
    this.store.closeAll('log service stopping');
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
