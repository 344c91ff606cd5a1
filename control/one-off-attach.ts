/**
 * A one-off dyno this control instance runs for itself (the release phase, app.json
 * postdeploy): placed like `dynomesh run`, attached to on its node with a request
 * signed with that node's credential, so the output and the exit status come here first-hand. Closing the socket
 * (a time limit, an abort, this process dying) kills the dyno. No stdin: the command
 * sees EOF at once.
 */
import { WebSocket } from 'ws';
import { attachPath } from '../cluster/node-credential.ts';
import { attachAuthorization } from './api/attach.ts';
import type { ControlContext } from './context.ts';
import { runOneOff } from './one-off.ts';

export interface AttachedRun {
  app: string;
  /** Release whose slug and config it runs. */
  release: number;
  command: string;
  /** Process type of the dyno (`release` → `release.1234`). */
  type: string;
  size?: string;
  onOutput: (chunk: Buffer) => void;
  timeoutMs: number;
  /** Says why it stopped, for the outcome. */
  timeoutMessage: string;
  signal?: AbortSignal;
  abortMessage?: string;
}

export interface AttachedOutcome {
  dyno?: string;
  /** Exit status; null when killed or never known. */
  exitCode: number | null;
  /** Why it did not exit 0, in one line (undefined on success). */
  error?: string;
}

export async function runAttached(ctx: ControlContext, r: AttachedRun): Promise<AttachedOutcome> {
  const { cluster, log } = ctx;
  const { node, placement } = await runOneOff(cluster, r.app, { command: r.command, attach: true, type: r.type, release: r.release, ...(r.size ? { size: r.size } : {}) });
  const dyno = placement.dyno;
  log.info({ app: r.app, release: r.release, dyno, node }, 'attached-one-off-started');
  const rec = (await cluster.get(cluster.keys.node(node)))?.value;
  if (!rec?.agentUrl) return { dyno, exitCode: null, error: `node ${node} serves no attach endpoint` };
  const authorization = await attachAuthorization(ctx, node, r.app, dyno).catch((err: Error) => err);
  if (authorization instanceof Error) return { dyno, exitCode: null, error: authorization.message };
  const ws = new WebSocket(`${rec.agentUrl.replace(/^http/, 'ws').replace(/\/$/, '')}${attachPath(r.app, dyno)}`, {
    headers: { authorization },
    handshakeTimeout: 15_000,
  });
  return await new Promise<AttachedOutcome>((resolve) => {
    let exit: { status: number | null; message: string } | undefined;
    let why: string | undefined;
    const timer = setTimeout(() => {
      why = r.timeoutMessage;
      ws.close(1000, 'time limit');
    }, r.timeoutMs);
    const onAbort = () => {
      why = r.abortMessage ?? 'stopped';
      ws.close(1000, 'stopped');
    };
    if (r.signal?.aborted) onAbort();
    else r.signal?.addEventListener('abort', onAbort, { once: true });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'eof' })));
    ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      if (isBinary) {
        if (buf.length > 1) r.onOutput(buf.subarray(1));
        return;
      }
      try {
        const msg = JSON.parse(buf.toString()) as { type?: string; status?: number | null; message?: string };
        if (msg.type === 'exit') exit = { status: msg.status ?? null, message: msg.message ?? '' };
      } catch {
        /* not a control message */
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      why = `could not attach to ${dyno} on node ${node} (HTTP ${res.statusCode})`;
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => (why ??= `lost its dyno ${dyno}: ${err.message}`));
    ws.on('close', (code, reason) => {
      clearTimeout(timer);
      r.signal?.removeEventListener('abort', onAbort);
      if (why) return resolve({ dyno, exitCode: exit?.status ?? null, error: why });
      if (!exit) return resolve({ dyno, exitCode: null, error: `dyno ${dyno} went away (${reason.toString() || `code ${code}`})` });
      if (exit.status === 0) return resolve({ dyno, exitCode: 0 });
      resolve({ dyno, exitCode: exit.status, error: exit.message || (exit.status === null ? 'killed' : `exit status ${exit.status}`) });
    });
  });
}
