/**
 * One producer connection to one log service instance: a queue of records for
 * the apps that instance owns, batches in flight until acked, reconnect with
 * backoff. Unacked batches go back to the front of the queue when the
 * connection drops, so they are resent (or rerouted) in order. Nothing is sent
 * before the service's HELLO has been answered with this producer's AUTH.
 */
import { connect, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { Backoff } from '../lib/backoff.ts';
import { proof, type ProducerCredential } from './credential.ts';
import type { LogMember } from './owners.ts';
import { ACK, AUTH, BATCH, encodeFrame, FrameReader, HELLO, MAX_BATCH_BYTES, wireBytes, type Frame, type WireRecord } from './wire.ts';

export interface Item {
  w: WireRecord;
  hops: number;
}

export interface LinkOptions {
  batchMax: number;
  maxInflight: number;
  /** A batch not acked within this long means the peer is stuck: drop the connection and resend. */
  ackTimeoutMs: number;
}

export interface LinkHost {
  /** `n` records were acked (they leave the shipper's buffer count). */
  acked(n: number): void;
  log: Logger;
  /** Who this producer is to the log service. */
  credential: ProducerCredential;
}

export class Link {
  queue: Item[] = [];
  private readonly inflight = new Map<number, { items: Item[]; at: number }>();
  private readonly control: Buffer[] = [];
  private socket: Socket | undefined;
  /** Authenticated: the service's HELLO was answered; batches may go. */
  private connected = false;
  /** A batch was acked on this connection (so the service accepted our credential). */
  private accepted = false;
  private closed = false;
  private seq = 0;
  private readonly backoff = new Backoff(100, 2000);
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly member: LogMember, private readonly host: LinkHost, private readonly opts: LinkOptions) {
    this.dial();
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Nothing waiting to leave: no control frame queued and the socket's buffer empty. */
  get idle(): boolean {
    return this.control.length === 0 && (!this.socket || this.socket.writableLength === 0);
  }

  get size(): number {
    let n = this.queue.length;
    for (const b of this.inflight.values()) n += b.items.length;
    return n;
  }

  /** Sends queued records while the socket and the in-flight window allow. */
  pump(): void {
    const s = this.socket;
    if (!this.connected || !s) return;
    while (this.control.length && !s.writableNeedDrain) s.write(this.control.shift()!);
    while (this.queue.length && this.inflight.size < this.opts.maxInflight && !s.writableNeedDrain) {
      // At most batchMax records and MAX_BATCH_BYTES: the service refuses larger frames.
      let n = 0;
      for (let bytes = 0; n < this.queue.length && n < this.opts.batchMax; n++) {
        bytes += wireBytes(this.queue[n]!.w);
        if (bytes > MAX_BATCH_BYTES && n > 0) break;
      }
      const items = n === this.queue.length ? this.queue : this.queue.slice(0, n);
      this.queue = items === this.queue ? [] : this.queue.slice(n);
      const seq = ++this.seq;
      let hops = 0;
      const recs = new Array<WireRecord>(items.length);
      for (let i = 0; i < items.length; i++) {
        recs[i] = items[i]!.w;
        if (items[i]!.hops > hops) hops = items[i]!.hops;
      }
      this.inflight.set(seq, { items, at: Date.now() });
      s.write(encodeFrame([BATCH, seq, hops, recs]));
    }
  }

  /** A frame that is not a batch (handoff); best effort, not acked. */
  sendControl(f: Frame): void {
    this.control.push(encodeFrame(f));
    this.pump();
  }

  /** Drops a connection whose oldest batch has waited too long for its ack. */
  checkStuck(now: number): void {
    for (const b of this.inflight.values()) {
      if (now - b.at > this.opts.ackTimeoutMs) {
        this.host.log.warn({ member: this.member.id, logs: this.member.logs }, 'log-service-ack-timeout');
        this.socket?.destroy();
      }
      return;
    }
  }

  /** Closes the link and returns every record not yet acked, in order. */
  close(): Item[] {
    this.closed = true;
    clearTimeout(this.timer);
    this.socket?.destroy();
    this.socket = undefined;
    this.requeueInflight();
    const out = this.queue;
    this.queue = [];
    return out;
  }

  private requeueInflight(): void {
    if (this.inflight.size === 0) return;
    const back: Item[] = [];
    for (const seq of [...this.inflight.keys()].sort((a, b) => a - b)) back.push(...this.inflight.get(seq)!.items);
    this.inflight.clear();
    this.queue = back.concat(this.queue);
  }

  private dial(): void {
    if (this.closed) return;
    const i = this.member.logs.lastIndexOf(':');
    const host = this.member.logs.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(this.member.logs.slice(i + 1));
    const s = connect({ host, port });
    this.socket = s;
    const reader = new FrameReader();
    s.setNoDelay(true);
    s.setKeepAlive(true, 5000);
    // A host that drops packets would leave connect() pending for minutes.
    s.setTimeout(5000, () => {
      if (!this.connected) s.destroy(new Error('connect or handshake timed out after 5 s'));
    });
    s.on('connect', () => {
      this.accepted = false;
      this.host.log.debug({ member: this.member.id, logs: this.member.logs }, 'log-service-connected');
    });
    s.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.host.log.warn({ member: this.member.id, err: (err as Error).message }, 'log-service-bad-frame');
        s.destroy();
        return;
      }
      for (const f of frames) {
        if (f[0] === HELLO && !this.connected && Buffer.isBuffer(f[1])) {
          const { id, secret } = this.host.credential;
          s.write(encodeFrame([AUTH, id, proof(secret, f[1], id)]));
          s.setTimeout(0);
          this.connected = true;
          continue;
        }
        if (f[0] !== ACK) continue;
        if (!this.accepted) {
          // Backoff resets only once the service has taken a batch: a refused credential keeps backing off.
          this.accepted = true;
          this.backoff.reset();
        }
        const b = this.inflight.get(f[1]);
        if (!b) continue;
        this.inflight.delete(f[1]);
        this.host.acked(b.items.length);
      }
      this.pump();
    });
    s.on('drain', () => this.pump());
    s.on('error', (err) => this.host.log.debug({ member: this.member.id, err: err.message }, 'log-service-connection-error'));
    s.on('close', () => {
      if (this.socket !== s) return;
      const was = this.connected;
      this.connected = false;
      const refused = was && !this.accepted && this.inflight.size > 0;
      this.socket = undefined;
      this.control.length = 0;
      this.requeueInflight();
      if (this.closed) return;
      if (refused) this.host.log.warn({ member: this.member.id, logs: this.member.logs, producer: this.host.credential.id, hint: 'check this daemon\'s log credential' }, 'log-service-refused-producer');
      else if (was) this.host.log.warn({ member: this.member.id, logs: this.member.logs, queued: this.queue.length }, 'log-service-disconnected');
      this.timer = setTimeout(() => this.dial(), this.backoff.next());
      this.timer.unref();
    });
  }
}
