/**
 * The log service of one control instance: a TCP listener for producers
 * (logplex/wire.ts frames), the per-app store for the apps this instance owns,
 * and forwarding of everything else to its owner. See README.md for the design.
 *
 * Ingestion is a door into every app's stream, so each connection starts with
 * a handshake (HELLO nonce -> AUTH id + HMAC proof, logplex/credential.ts) and
 * nothing else is read before it. After it: records must be well formed
 * (10,000-byte lines), allowed for the producer's kind (producer-policy.ts) and
 * name an app that exists (known-apps.ts); a node writes only for apps placed
 * on it (placed-apps.ts) and only while enrolled (enrolled-nodes.ts); others are dropped and counted
 * (ingest-metrics.ts). A connection holds at most one frame (MAX_FRAME) and
 * stops being read while its producer leaves acks unread.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { kindOf, verifyProof, type ProducerKind } from '../../logplex/credential.ts';
import type { LogMembers } from '../../logplex/owners.ts';
import type { LogRecord } from '../../logplex/record.ts';
import type { LogShipper } from '../../logplex/shipper.ts';
import { ACK, AUTH, BATCH, chunkWire, encodeFrame, FrameReader, fromWire, HANDOFF, HELLO, MAX_AUTH_FRAME, MAX_FRAME, MAX_HOPS, validWire, type Frame, type WireRecord } from '../../logplex/wire.ts';
import { IngestMetrics, type RefusedConnection } from './ingest-metrics.ts';
import type { EnrolledNodes } from './enrolled-nodes.ts';
import type { PlacedApps } from './placed-apps.ts';
import type { KnownApps } from './known-apps.ts';
import { mayRelay, mayWrite } from './producer-policy.ts';
import { LogStore } from './store.ts';
import { METRICS_DYNO } from '../../logplex/metrics.ts';

const isSample = (r: LogRecord): boolean => r.dyno === METRICS_DYNO && r.source === 'heroku';

/** A producer must authenticate within this long after connecting. */
export const AUTH_TIMEOUT_MS = 5000;
/** Records of just-created apps held while etcd confirms them (control peers only). */
const MAX_HELD = 10_000;
/** Unread ack bytes after which a producer's connection stops being read. */
const MAX_UNREAD = 64 * 1024;

export class LogService {
  readonly store = new LogStore();
  readonly metrics = new IngestMetrics();
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Authenticated connections per producer id (so revoking a node closes its own). */
  private readonly byProducer = new Map<string, Set<Socket>>();
  private shipper: LogShipper | undefined;
  private unwatch: (() => void) | undefined;
  /** Records for apps etcd is being asked about, per app, in arrival order. */
  private readonly held = new Map<string, LogRecord[]>();
  private heldCount = 0;
  private refusedSinceLog = 0;
  private lastRefusalLog = 0;
  /** Receives the metric samples of the apps this instance owns (control/metrics). */
  onSample: ((app: string, line: string) => void) | undefined;
  /** `host:port` producers reach us on (advertised in our member record). */
  address = '';

  constructor(
    readonly id: string,
    readonly members: LogMembers,
    private readonly log: Logger,
    private readonly auth: { clusterKey: Buffer; apps: KnownApps; nodes?: EnrolledNodes; placed?: PlacedApps },
  ) {
    // A revoked node's open connections go at once, not at its next connect.
    auth.nodes?.onRevoked((node) => {
      for (const s of this.byProducer.get(`node:${node}`) ?? []) s.destroy();
    });
  }

  /** The shipper that forwards non-owned records and hands history over (the instance's own producer). */
  attach(shipper: LogShipper): void {
    this.shipper = shipper;
    this.unwatch = this.members.onChange(() => this.rebalance());
  }

  owns(app: string): boolean {
    return this.members.owner(app)?.id === this.id;
  }

  /**
   * Records from this instance or a control peer (trusted). Apps the watch has
   * not seen are confirmed in etcd first (a peer may have just created one).
   */
  ingest(recs: LogRecord[], hops: number): void {
    let known: LogRecord[] | undefined;
    for (const r of recs) {
      if (this.auth.apps.has(r.app) && !this.held.has(r.app)) (known ??= []).push(r);
      else this.hold(r, hops);
    }
    if (known) this.route(known, hops);
  }

  /**
   * Ours are stored; others go to their owner, at most MAX_HOPS passes (views of
   * the member set can briefly disagree), after which we keep them rather than
   * bounce them forever.
   */
  private route(recs: LogRecord[], hops: number): void {
    this.metrics.records += recs.length;
    let mine: LogRecord[] | undefined;
    let theirs: LogRecord[] | undefined;
    for (const r of recs) {
      if (hops >= MAX_HOPS || this.owns(r.app) || !this.shipper || !this.members.owner(r.app)) (mine ??= []).push(r);
      else (theirs ??= []).push(r);
    }
    if (mine) this.keep(mine);
    if (theirs) this.shipper!.forward(theirs, hops + 1);
  }

  /** Stores an owned app's lines; metric samples (logplex/metrics.ts) go to the metrics store instead, never into the stream. */
  private keep(recs: LogRecord[]): void {
    let lines = recs;
    if (recs.some(isSample)) {
      lines = [];
      for (const r of recs) {
        if (!isSample(r)) lines.push(r);
        else this.onSample?.(r.app, r.line);
      }
    }
    if (lines.length) this.store.append(lines);
  }

  private hold(r: LogRecord, hops: number): void {
    let q = this.held.get(r.app);
    if (!q) {
      if (this.heldCount >= MAX_HELD) {
        this.metrics.refusedRecords['unknown-app']++;
        return;
      }
      q = [];
      this.held.set(r.app, q);
      const app = r.app;
      void this.auth.apps.confirm(app).then((exists) => {
        const waiting = this.held.get(app) ?? [];
        this.held.delete(app);
        this.heldCount -= waiting.length;
        if (exists) this.route(waiting, hops);
        else this.metrics.refusedRecords['unknown-app'] += waiting.length;
      });
    }
    q.push(r);
    this.heldCount++;
  }

  async listen(host: string, port: number, advertiseHost?: string): Promise<string> {
    const server = (this.server = createServer((s) => this.accept(s)));
    server.maxConnections = 4096;
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
    const nonce = randomBytes(16);
    const reader = new FrameReader(MAX_AUTH_FRAME);
    let kind: ProducerKind | undefined;
    let producer: string | undefined;
    const timer = setTimeout(() => this.refuse(s, 'auth-timeout'), AUTH_TIMEOUT_MS);
    timer.unref();
    s.write(encodeFrame([HELLO, nonce]));
    s.on('data', (chunk: Buffer) => {
      reader.feed(chunk);
      try {
        for (let f = reader.next(); f; f = reader.next()) {
          if (kind) {
            this.frame(s, kind, f, producer!);
            continue;
          }
          if (f[0] !== AUTH) return this.refuse(s, 'no-credential');
          const [, id, presented] = f;
          if (typeof id !== 'string' || !verifyProof(this.auth.clusterKey, nonce, id, presented)) return this.refuse(s, 'bad-credential', id);
          kind = kindOf(id);
          // A node's log secret is derived from its id: whether it may still log is its enrolment.
          if (kind === 'node' && this.auth.nodes && !this.auth.nodes.has(id.slice('node:'.length))) return this.refuse(s, 'bad-credential', id);
          clearTimeout(timer);
          producer = id;
          if (!this.byProducer.has(id)) this.byProducer.set(id, new Set());
          this.byProducer.get(id)!.add(s);
          reader.max = MAX_FRAME;
          this.metrics.connections++;
        }
      } catch (err) {
        this.log.debug({ peer: s.remoteAddress, err: (err as Error).message }, 'log-producer-bad-frame');
        return this.refuse(s, 'bad-frame');
      }
      // A producer that does not read its acks must not make us buffer them without end.
      if (s.writableLength > MAX_UNREAD) {
        this.metrics.paused++;
        s.pause();
        s.once('drain', () => s.resume());
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      this.sockets.delete(s);
      const mine = producer ? this.byProducer.get(producer) : undefined;
      mine?.delete(s);
      if (mine?.size === 0) this.byProducer.delete(producer!);
    });
  }

  /** Closes a producer connection, counted; at most one log line per 10 s however many there are. */
  private refuse(s: Socket, reason: RefusedConnection, id?: unknown): void {
    this.metrics.refusedConnections[reason]++;
    s.destroy();
    this.refusedSinceLog++;
    const now = Date.now();
    if (now - this.lastRefusalLog < 10_000) return;
    this.log.warn({ peer: s.remoteAddress, reason, producer: typeof id === 'string' ? id.slice(0, 80) : undefined, refused: this.refusedSinceLog }, 'log-producer-refused');
    this.lastRefusalLog = now;
    this.refusedSinceLog = 0;
  }

  private frame(s: Socket, kind: ProducerKind, f: Frame, producer: string): void {
    const m = this.metrics.refusedRecords;
    // A node writes only into the streams of apps placed on it.
    const node = kind === 'node' && this.auth.placed ? producer.slice('node:'.length) : undefined;
    if (f[0] === BATCH) {
      const [, seq, hops, wire] = f;
      const relayed = typeof hops === 'number' && hops > 0;
      const recs: LogRecord[] = [];
      if (!Array.isArray(wire)) m.invalid++;
      else if (relayed && !mayRelay(kind)) m['not-allowed'] += wire.length;
      else {
        for (const w of wire as unknown[]) {
          if (!validWire(w)) m.invalid++;
          else if (!mayWrite(kind, w)) m['not-allowed']++;
          else if (kind !== 'control' && !this.auth.apps.has(w[0])) m['unknown-app']++;
          else if (node !== undefined && !this.auth.placed!.has(node, w[0])) m['not-allowed']++;
          else recs.push(fromWire(w));
        }
      }
      if (recs.length) {
        if (kind === 'control') this.ingest(recs, relayed ? hops : 0);
        else this.route(recs, 0);
      }
      // Refused records are acked too: resending them would not change the answer.
      s.write(encodeFrame([ACK, typeof seq === 'number' ? seq : 0]));
    } else if (f[0] === HANDOFF) {
      const [, app, wire] = f;
      if (!mayRelay(kind) || typeof app !== 'string' || !Array.isArray(wire)) return void m['not-allowed']++;
      if (!this.auth.apps.has(app)) return void (m['unknown-app'] += wire.length);
      const recs = (wire as unknown[]).filter((w): w is WireRecord => validWire(w) && w[0] === app).map(fromWire);
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
      // In chunks under the frame limit, newest first: each lands before the previous one (store.prepend).
      const chunks = chunkWire(recs.map((r): WireRecord => [r.app, r.source, r.dyno, r.ts, r.line]));
      if (this.shipper) for (const c of chunks.reverse()) this.shipper.handoff(owner, [HANDOFF, app, c]);
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
