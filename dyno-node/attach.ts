/**
 * One-off dynos attached to their requester (`heroku run`): the node serves a
 * WebSocket at `{agentUrl}/dynos/{app}/{dyno}/attach`, advertised in its node
 * record. The caller, a control proxying a user or running a release phase,
 * signs the request with this node's credential (cluster/node-credential.ts,
 * direction `control`); nothing else is let in.
 *
 * Rendezvous: the dyno starts only once its requester is attached, so no output
 * is lost; a requester that arrives before the placement reached this node waits
 * up to `offerWaitMs`. Wire format:
 *   node -> client  binary: 1 byte channel (1 stdout, 2 stderr) + data
 *                   text:   {"type":"exit","status":N,"message":"..."} then close
 *   client -> node  binary: stdin bytes; text {"type":"eof"} closes stdin,
 *                   {"type":"resize","rows":N,"cols":N} resizes a tty run's terminal
 * Closing the socket kills the dyno.
 */
import { createServer, type Server } from 'node:http';
import type { ChildProcess } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { APP_NAME, DYNO_NAME } from '../cluster/names.ts';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../lib/log.ts';

export interface Attachment {
  send(channel: 'stdout' | 'stderr', data: Buffer): void;
  /** Bytes queued to the requester; the run pauses the dyno's output above a threshold. */
  readonly buffered: number;
  exit(status: number | null, message: string): void;
  onInput(fn: (data: Buffer | null) => void): void;
  /** The requester's terminal changed size (tty runs). */
  onResize(fn: (rows: number, cols: number) => void): void;
  onClose(fn: () => void): void;
  readonly closed: boolean;
}

class SocketAttachment implements Attachment {
  // Input can arrive before the dyno's stdin is hooked up (the requester types at once): keep it until then.
  private early: (Buffer | null)[] = [];
  private input: (d: Buffer | null) => void = (d) => this.early.push(d);
  private closeFns: (() => void)[] = [];
  private resize: (rows: number, cols: number) => void = () => undefined;
  closed = false;

  constructor(private readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      if (isBinary) return this.input(buf);
      try {
        const msg = JSON.parse(buf.toString()) as { type?: string; rows?: unknown; cols?: unknown };
        if (msg.type === 'eof') this.input(null);
        const dim = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 1000;
        if (msg.type === 'resize' && dim(msg.rows) && dim(msg.cols)) this.resize(msg.rows, msg.cols);
      } catch {
        /* not a control message: ignore */
      }
    });
    ws.on('close', () => {
      this.closed = true;
      for (const f of this.closeFns) f();
    });
    ws.on('error', () => undefined);
  }

  get buffered(): number {
    return this.ws.bufferedAmount;
  }

  send(channel: 'stdout' | 'stderr', data: Buffer): void {
    if (this.closed) return;
    this.ws.send(Buffer.concat([Buffer.of(channel === 'stdout' ? 1 : 2), data]), { binary: true });
  }

  exit(status: number | null, message: string): void {
    if (this.closed) return;
    this.ws.send(JSON.stringify({ type: 'exit', status, message }));
    this.ws.close(1000, 'dyno exited');
  }

  onInput(fn: (data: Buffer | null) => void): void {
    this.input = fn;
    const early = this.early;
    this.early = [];
    for (const d of early) fn(d);
  }

  onResize(fn: (rows: number, cols: number) => void): void {
    this.resize = fn;
  }

  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.closeFns.push(fn);
  }
}

const PATH = new RegExp(`^/dynos/(${APP_NAME})/(${DYNO_NAME})/attach$`);

export class AttachServer {
  private server: Server | undefined;
  private readonly wss = new WebSocketServer({ noServer: true });
  /** Dynos waiting for their requester. */
  private readonly waiters = new Map<string, { done: (a: Attachment) => void; fail: (e: Error) => void }>();
  /** Requesters waiting for their dyno's placement to arrive. */
  private readonly offers = new Map<string, { ws: WebSocket; attachment: SocketAttachment; timer: NodeJS.Timeout }>();
  url = '';

  constructor(
    /** Whether the Authorization header signs a request for this path (the agent checks it with its credential). */
    private readonly authorized: (authorization: string | undefined, path: string) => boolean,
    private readonly log: Logger,
    private readonly offerWaitMs = 10_000,
  ) {}

  async start(host: string, port: number, advertise: string): Promise<string> {
    this.server = createServer((_req, res) => res.writeHead(404).end('attach with a WebSocket at /dynos/{app}/{dyno}/attach\n'));
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    const bound = (this.server.address() as { port: number }).port;
    this.url = `http://${advertise.includes(':') ? `[${advertise}]` : advertise}:${bound}`;
    return this.url;
  }

  private upgrade(req: import('node:http').IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (code: number, why: string) => {
      socket.end(`HTTP/1.1 ${code} ${why}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const m = PATH.exec(path);
    if (!m) return refuse(404, 'Not Found');
    if (!this.authorized(req.headers.authorization, path)) return refuse(401, 'Unauthorized');
    const key = `${m[1]}/${m[2]}`;
    if (this.offers.has(key)) return refuse(409, 'Conflict');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // Wrap at once so input sent before the dyno starts is kept, not dropped.
      const attachment = new SocketAttachment(ws);
      const waiter = this.waiters.get(key);
      if (waiter) {
        this.waiters.delete(key);
        return waiter.done(attachment);
      }
      // The placement may not have reached this node yet: hold the requester a little.
      const timer = setTimeout(() => {
        this.offers.delete(key);
        ws.close(4404, `no one-off dyno ${m[2]} of ${m[1]} is waiting on this node`);
      }, this.offerWaitMs);
      this.offers.set(key, { ws, attachment, timer });
      ws.once('close', () => {
        if (this.offers.get(key)?.ws === ws) {
          clearTimeout(timer);
          this.offers.delete(key);
        }
      });
    });
  }

  /** Called by a one-off run: resolves when its requester attaches, rejects after `timeoutMs` (R13). */
  wait(app: string, dyno: string, timeoutMs: number): Promise<Attachment> {
    const key = `${app}/${dyno}`;
    const offer = this.offers.get(key);
    if (offer) {
      clearTimeout(offer.timer);
      this.offers.delete(key);
      return Promise.resolve(offer.attachment);
    }
    return new Promise((resolve, reject) => {
      const w = {
        done: (a: Attachment) => {
          clearTimeout(timer);
          resolve(a);
        },
        fail: (e: Error) => {
          clearTimeout(timer);
          if (this.waiters.get(key) === w) this.waiters.delete(key);
          reject(e);
        },
      };
      const timer = setTimeout(() => w.fail(new Error(`Error R13 (Attach error) -> Failed to attach to process within ${Math.round(timeoutMs / 1000)} seconds`)), timeoutMs);
      this.waiters.set(key, w);
    });
  }

  /** The dyno was stopped while waiting for its requester. */
  cancel(app: string, dyno: string): void {
    this.waiters.get(`${app}/${dyno}`)?.fail(new Error('stopped while awaiting the client'));
  }

  async close(): Promise<void> {
    for (const { ws, timer } of this.offers.values()) {
      clearTimeout(timer);
      ws.terminate();
    }
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.log.debug({}, 'attach-server-closed');
  }
}

/** Pipes an attached one-off's stdio to its requester, pausing output the socket cannot take yet. */
export function pipeToAttachment(child: ChildProcess, a: Attachment): void {
  for (const [stream, channel] of [[child.stdout, 'stdout'], [child.stderr, 'stderr']] as const) {
    stream?.on('data', (d: Buffer) => {
      a.send(channel, d);
      if (a.buffered > 1 << 20) {
        stream.pause();
        const wait = setInterval(() => {
          if (a.buffered < 1 << 18 || a.closed) {
            clearInterval(wait);
            stream.resume();
          }
        }, 20);
      }
    });
  }
  a.onInput((d) => {
    if (!child.stdin || child.stdin.destroyed) return;
    if (d) child.stdin.write(d);
    else child.stdin.end();
  });
}
