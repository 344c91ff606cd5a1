/**
 * The ceiling of the router's stack: uWebSockets.js in front, pooled keep-alive
 * `net.Socket`s to the dyno behind, and nothing else. No route lookup, balancer,
 * Heroku headers, request id, limits, timers or log line: it forwards `GET <url>`
 * and answers with the dyno's status and body. Whatever this costs per request,
 * the router costs at least that plus its semantics. GET only, a Content-Length
 * response whose head arrives in one read (what the bench backends send).
 * Run: node --import tsx floor-proxy.ts --port N --upstream-port M
 */
import { connect, type Socket } from 'node:net';
import { loadUws, type HttpResponse } from '../../router/uws.ts';

const arg = (name: string): number => Number(process.argv[process.argv.indexOf(name) + 1]);
const port = arg('--port');
const upstream = arg('--upstream-port');
const HEAD_END = Buffer.from('\r\n\r\n');
const LENGTH = /\r\ncontent-length: *(\d+)/i;

interface Upstream {
  socket: Socket;
  res: HttpResponse | null;
  aborted: boolean;
  /** Body bytes the client still expects (-1: waiting for a head). */
  left: number;
  total: number;
}

const idle: Upstream[] = [];

function open(): Upstream {
  const u: Upstream = { socket: null as unknown as Socket, res: null, aborted: false, left: -1, total: 0 };
  u.socket = connect({
    host: '127.0.0.1', port: upstream, noDelay: true,
    onread: { buffer: Buffer.allocUnsafe(64 * 1024), callback: (n, buf) => (onBytes(u, (buf as Buffer).subarray(0, n)), true) },
  });
  u.socket.on('error', () => u.socket.destroy());
  return u;
}

function onBytes(u: Upstream, b: Buffer): void {
  let body = b;
  let status = '';
  if (u.left < 0) {
    const end = b.indexOf(HEAD_END);
    const head = b.toString('latin1', 0, end);
    u.total = u.left = Number(LENGTH.exec(head)?.[1] ?? 0);
    status = head.slice(9, head.indexOf('\r\n'));
    body = b.subarray(end + 4);
  }
  u.left -= body.length;
  const res = u.res;
  if (u.left <= 0) {
    u.res = null;
    u.left = -1;
    idle.push(u);
  }
  if (res === null || u.aborted) return;
  // one cork: status and body leave in one send. The bench's bodies fit the socket buffers;
  // a full client socket would lose bytes here (no backpressure handling: not a proxy, a measure).
  res.cork(() => {
    if (status) res.writeStatus(status);
    res.tryEnd(body, u.total);
  });
}

loadUws()
  .App()
  .get('/*', (res, req) => {
    const u = idle.pop() ?? open();
    u.res = res;
    u.aborted = false;
    res.onAborted(() => { u.aborted = true; });
    u.socket.write('GET ' + req.getUrl() + ' HTTP/1.1\r\nhost: dyno\r\n\r\n');
  })
  .listen('127.0.0.1', port, (sock) => {
    if (!sock) {
      process.stderr.write(`floor proxy: cannot listen on 127.0.0.1:${port}\n`);
      process.exit(1);
    }
    process.stdout.write(`floor proxy on 127.0.0.1:${port} -> ${upstream}\n`);
  });
