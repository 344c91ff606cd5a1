/**
 * One-off dynos (`dynomesh run`): a placement named `run.N` with its own command,
 * put on a node chosen by the scheduler's rules. It is created here, by whichever
 * instance took the request (a create-only txn that also checks the node is alive,
 * so it cannot clobber the leader's placements); the leader removes it once its
 * process has ended or its node is gone. Attached runs meet their requester over
 * the node's attach WebSocket, proxied by `api/attach.ts`.
 */
import { randomInt } from 'node:crypto';
import type { Cluster } from '../cluster/client.ts';
import { retryTxn } from '../cluster/retry-txn.ts';
import { isProcessType } from '../cluster/names.ts';
import type { Placement } from '../cluster/records.ts';
import { appNotFound, ControlError, invalid } from './errors.ts';
import { normalizeSize } from './formation.ts';
import { nodeForOneOff, sizeMb } from './scheduler/plan.ts';
import { readWorld } from './scheduler/snapshot.ts';

export interface OneOffRequest {
  command: string;
  attach: boolean;
  size?: string;
  type?: string;
  /** Run on this release instead of the current one (the release phase runs the pending release). Not from the API. */
  release?: number;
  /** A pseudo-terminal for an attached run: `{"rows": 24, "cols": 80, "term": "xterm-256color"}`. */
  tty?: { rows: number; cols: number; term?: string };
}

export function parseOneOff(body: unknown): OneOffRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('expected {"command": "bash", "attach": true}');
  const b = body as Record<string, unknown>;
  if (typeof b.command !== 'string' || b.command.trim() === '') throw invalid('"command" is required: the command line to run, e.g. "bash"');
  if (b.command.length > 8192) throw invalid('"command" is longer than 8192 characters');
  if (b.attach !== undefined && typeof b.attach !== 'boolean') throw invalid('"attach" must be true or false');
  if (b.env !== undefined && b.env !== null && !(typeof b.env === 'object' && Object.keys(b.env as object).length === 0)) {
    throw invalid('per-run "env" is not supported; set config vars instead');
  }
  if (b.size !== undefined && typeof b.size !== 'string') throw invalid('"size" must be a dyno size such as standard-1x');
  if (b.type !== undefined && (typeof b.type !== 'string' || !isProcessType(b.type))) throw invalid('"type" must be lowercase letters, digits and _ (default "run")');
  let tty: OneOffRequest['tty'];
  if (b.tty !== undefined && b.tty !== null && b.tty !== false) {
    const t = b.tty as Record<string, unknown>;
    const dim = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 1000;
    if (typeof t !== 'object' || !dim(t.rows) || !dim(t.cols)) throw invalid('"tty" must be {"rows": N, "cols": N} (1 to 1000)');
    if (t.term !== undefined && (typeof t.term !== 'string' || !/^[A-Za-z0-9._+-]{1,64}$/.test(t.term))) throw invalid('"tty.term" must be a terminal type such as xterm-256color');
    if (b.attach !== true) throw invalid('"tty" needs "attach": true');
    tty = { rows: t.rows as number, cols: t.cols as number, ...(t.term ? { term: t.term as string } : {}) };
  }
  return {
    command: b.command,
    attach: b.attach === true,
    ...(tty ? { tty } : {}),
    ...(b.size !== undefined ? { size: normalizeSize(b.size as string) } : {}),
    ...(b.type !== undefined ? { type: b.type as string } : {}),
  };
}

/**
 * Places a one-off dyno on a node with room for it:
 *
 *   keys:    dynos/{node}/{app}/{type}.{NNNN}
 *   compare: the placement and the dyno's status key do not exist (a fresh random name),
 *            the chosen node is still registered
 *   result:  the node and the placement; on a lost race the world is read again
 */
export async function runOneOff(cluster: Cluster, app: string, req: OneOffRequest): Promise<{ node: string; placement: Placement }> {
  const k = cluster.keys;
  if (!(await cluster.get(k.app(app)))) throw appNotFound(app);
  const size = req.size ?? 'standard-1x';
  const mb = sizeMb(size);
  const type = req.type ?? 'run';
  return retryTxn(cluster, 'could not place the one-off dyno (nodes changed meanwhile); try again', async () => {
    const world = await readWorld(cluster);
    const release = req.release === undefined ? world.apps.find((a) => a.name === app)?.release : (await cluster.get(k.release(app, req.release)))?.value;
    if (!release?.slug) throw invalid(`${app} has no code yet; deploy with \`git push\` before running commands`);
    const node = nodeForOneOff(world, app, mb);
    if (!node) throw new ControlError(503, 'unavailable', `no dyno node has ${mb} MB free for a ${size} one-off dyno; try a smaller size or add nodes`);
    const dyno = `${type}.${randomInt(1000, 10000)}`;
    const placement: Placement = {
      app, dyno, type, release: release.version, size, memoryMb: mb, restartNonce: 0, createdAt: Date.now(),
      command: req.command, attach: req.attach, ...(req.tty ? { tty: req.tty } : {}),
    };
    const key = k.placement(node, app, dyno);
    return {
      compares: [
        { key, target: 'create', op: '==', value: 0 },
        { key: k.node(node), target: 'create', op: '!=', value: 0 },
        { key: k.status(node, app, dyno), target: 'create', op: '==', value: 0 },
      ],
      ops: [{ put: key, value: cluster.value(key, placement) }],
      result: { node, placement },
    };
  });
}
