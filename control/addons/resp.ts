/**
 * A minimal Redis client (RESP2 over TCP or TLS) for the few admin commands the
 * redis provider sends: AUTH, ACL, SCAN, UNLINK, CONFIG GET, SELECT. Commands are
 * pipelined in order; replies resolve them in order. Not for app traffic.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export type Reply = string | number | null | Buffer | Reply[];

/** An error reply from the server (`-ERR ...`, `-NOPERM ...`). */
export class RedisReplyError extends Error {
  override name = 'RedisReplyError';
}

export class RespClient {
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiting: { resolve(r: Reply): void; reject(e: Error): void }[] = [];
  private failed: Error | undefined;

  private constructor(private readonly socket: Socket, replyTimeoutMs: number) {
    // A server that accepts but never answers must not hang the API request.
    socket.setTimeout(replyTimeoutMs, () => {
      if (!this.waiting.length) return;
      this.fail(Object.assign(new Error(`no reply from the redis server within ${replyTimeoutMs} ms (timeout)`), { code: 'ETIMEDOUT' }));
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      this.drain();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(Object.assign(new Error('Connection terminated by the redis server'), { code: 'ECONNRESET' })));
  }

  static connect(url: URL, timeoutMs = 5000, replyTimeoutMs = 30_000): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const port = Number(url.port || 6379);
      const socket = url.protocol === 'rediss:' ? tlsConnect({ host, port, servername: host }) : tcpConnect({ host, port });
      const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`connect timeout after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
      socket.once(url.protocol === 'rediss:' ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        resolve(new RespClient(socket, replyTimeoutMs));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Sends one command; resolves with its reply, rejects with RedisReplyError on an error reply. */
  call(...args: (string | number | Buffer)[]): Promise<Reply> {
    if (this.failed) return Promise.reject(this.failed);
    const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
      const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(Buffer.concat(parts));
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private fail(err: Error): void {
    this.failed ??= err;
    for (const w of this.waiting.splice(0)) w.reject(err);
  }

  private drain(): void {
    while (this.waiting.length) {
      let parsed;
      try {
        parsed = parse(this.buf, 0);
      } catch (err) {
        this.fail(err as Error);
        this.socket.destroy();
        return;
      }
      if (!parsed) return;
      this.buf = this.buf.subarray(parsed.end);
      const w = this.waiting.shift()!;
      if (parsed.value instanceof RedisReplyError) w.reject(parsed.value);
      else w.resolve(parsed.value as Reply);
    }
  }
}

/** Parses one reply at `at`; undefined when the buffer does not hold all of it yet. */
function parse(buf: Buffer, at: number): { value: Reply | RedisReplyError; end: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (String.fromCharCode(buf[at]!)) {
    case '+': return { value: line, end: next };
    case '-': return { value: new RedisReplyError(line), end: next };
    case ':': return { value: Number(line), end: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      if (buf.length < next + n + 2) return undefined;
      return { value: buf.subarray(next, next + n), end: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items: Reply[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, pos);
        if (!item) return undefined;
        if (item.value instanceof RedisReplyError) return { value: item.value, end: item.end };
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new RedisReplyError(`unexpected reply byte ${JSON.stringify(String.fromCharCode(buf[at]!))} from the redis server`);
  }
}

/** A reply as text (bulk strings arrive as Buffers). */
export const text = (r: Reply): string => (Buffer.isBuffer(r) ? r.toString('utf8') : String(r));
