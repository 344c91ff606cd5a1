/**
 * `dynomesh run` attach: the user opens a WebSocket to control at
 * `/apps/{app}/dynos/{dyno}/attach` (API token), control opens one to the
 * dyno's node at `{agentUrl}/dynos/{app}/{dyno}/attach` (signed with that node's
 * credential, cluster/node-credential.ts) and relays
 * frames both ways unchanged (binary: 1 byte channel + data; text: control
 * messages). Either side closing closes the other; a slow reader pauses the
 * other side instead of buffering without bound.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { EntryOf } from '../../cluster/client.ts';
import { isAppName, isDynoName } from '../../cluster/keys.ts';
import { attachPath, nodeSecret, signRequest } from '../../cluster/node-credential.ts';
import type { ControlContext } from '../context.ts';
import { ControlError } from '../errors.ts';
import { authorize } from './authorize.ts';
import { ApiRouter } from './router.ts';
const HIGH_WATER = 1024 * 1024;

function refuse(socket: Duplex, status: number, id: string, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ id, message });
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 ${status} ${id}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`);
}

/** Relays `from` → `to`, pausing `from`'s socket while `to` has too much queued. */
function relay(from: WebSocket, to: WebSocket): void {
  const raw = (ws: WebSocket) => (ws as unknown as { _socket?: { pause(): void; resume(): void } })._socket;
  let timer: NodeJS.Timeout | undefined;
  from.on('message', (data, isBinary) => {
    if (to.readyState !== WebSocket.OPEN) return;
    to.send(data as Buffer, { binary: isBinary });
    if (to.bufferedAmount > HIGH_WATER && !timer) {
      raw(from)?.pause();
      timer = setInterval(() => {
        if (to.bufferedAmount < HIGH_WATER / 4 || to.readyState !== WebSocket.OPEN) {
          clearInterval(timer);
          timer = undefined;
          raw(from)?.resume();
        }
      }, 20);
    }
  });
  from.on('close', (code, reason) => {
    clearInterval(timer);
    if (to.readyState === WebSocket.OPEN || to.readyState === WebSocket.CONNECTING) {
      to.close(code >= 1000 && code < 5000 && code !== 1005 && code !== 1006 ? code : 1000, reason);
    }
  });
  from.on('error', () => undefined);
}

/**
 * The attach server's route table. The upgrade handler below does the work; the
 * table gives the route its access rule from policy.ts, as for every API route.
 */
export function attachRouter(): ApiRouter {
  return new ApiRouter().get('/apps/:app/dynos/:dyno/attach', async () => undefined);
}

/** What a control presents to a node's attach endpoint: a request signed with that node's secret. */
export async function attachAuthorization(ctx: ControlContext, node: string, app: string, dyno: string): Promise<string> {
  const secret = await nodeSecret(ctx.cluster, ctx.clusterKey, node);
  if (!secret) throw new ControlError(503, 'unavailable', `node ${node} is not enrolled (revoked?); its dynos cannot be attached to`);
  return signRequest(secret, node, 'control', 'GET', attachPath(app, dyno));
}

export function serveAttach(server: Server, ctx: ControlContext, peerToken: string): void {
  const wss = new WebSocketServer({ noServer: true });
  const routes = attachRouter();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const m = routes.match('GET', url.pathname);
      if (!m || 'allowed' in m || !isAppName(m.params.app!) || !isDynoName(m.params.dyno!)) {
        return refuse(socket, 404, 'not_found', 'WebSocket upgrades are only served at /apps/{app}/dynos/{dyno}/attach');
      }
      const { app, dyno } = m.params as { app: string; dyno: string };
      try {
        await authorize({ cluster: ctx.cluster, clusterKey: ctx.clusterKey, peerToken, log: ctx.log }, m.route.rule, req, url, m.params, async () => ({}));
      } catch (err) {
        if (!(err instanceof ControlError)) throw err;
        return refuse(socket, err.status, err.id, err.message, err.headers);
      }
      const placements = await ctx.cluster.list(ctx.cluster.keys.placements());
      const p = (placements.entries as EntryOf<'placement'>[]).find((e) => e.value.app === app && e.value.dyno === dyno);
      if (!p || !p.value.attach) return refuse(socket, 404, 'not_found', `no attachable one-off dyno ${dyno} in ${app}; start one with \`dynomesh run\``);
      const node = await ctx.cluster.get(ctx.cluster.keys.node(p.ref.node));
      if (!node?.value.agentUrl) return refuse(socket, 503, 'unavailable', `node ${p.ref.node} serves no attach endpoint`);
      let authorization: string;
      try {
        authorization = await attachAuthorization(ctx, p.ref.node, app, dyno);
      } catch (err) {
        if (!(err instanceof ControlError)) throw err;
        return refuse(socket, err.status, err.id, err.message);
      }
      const upstream = new WebSocket(`${node.value.agentUrl.replace(/^http/, 'ws').replace(/\/$/, '')}${attachPath(app, dyno)}`, {
        headers: { authorization },
        handshakeTimeout: 10_000,
      });
      // Frames can arrive with the handshake response, before the user's side is ready: keep them.
      const early: [Buffer, boolean][] = [];
      const hold = (data: Buffer, isBinary: boolean) => early.push([data, isBinary]);
      upstream.on('message', hold);
      let upstreamClosed: [number, Buffer] | undefined;
      upstream.once('close', (code, reason) => (upstreamClosed = [code, reason]));
      const opened = await new Promise<boolean>((resolve) => {
        upstream.once('open', () => resolve(true));
        upstream.once('error', () => resolve(false));
        upstream.once('unexpected-response', () => resolve(false));
      });
      if (!opened) {
        upstream.terminate();
        return refuse(socket, 502, 'unavailable', `could not reach dyno ${dyno} on node ${p.ref.node}`);
      }
      wss.handleUpgrade(req, socket, head, (client) => {
        upstream.off('message', hold);
        for (const [data, isBinary] of early) client.send(data, { binary: isBinary });
        relay(client, upstream);
        relay(upstream, client);
        if (upstreamClosed) client.close(upstreamClosed[0] === 1005 || upstreamClosed[0] === 1006 ? 1000 : upstreamClosed[0], upstreamClosed[1]);
        ctx.log.info({ app, dyno, node: p.ref.node }, 'one-off-attached');
      });
    })().catch((err) => {
      ctx.log.error({ err }, 'attach-failed');
      refuse(socket, 500, 'internal_error', 'attach failed; see the control plane log');
    });
  });
}
