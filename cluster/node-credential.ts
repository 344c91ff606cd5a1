/**
 * Per-node credentials: a dyno host holds its own secret, not the cluster key.
 * A control issues it when the node is enrolled (`dynomesh nodes:enroll`, or
 * `up` and the netns cluster on their own) and keeps it sealed in etcd:
 *
 *   node-credentials/{node}   {secret} sealed with the cluster key; deleting it revokes the node
 *   credential file           {"node", "secret", "log"} (hex), mode 0600, under the node's data dir
 *
 * Requests between a node and a control are signed, so the secret never crosses
 * the network:
 *
 *   Authorization: DynomeshNode node=<id>,ts=<ms>,sig=<hex>
 *   sig = HMAC-SHA256(secret, dir "\0" METHOD "\0" path "\0" ts)
 *
 * `dir` is `node` for a node calling a control (slugs, release data) and
 * `control` for a control calling a node (attach), so a signature cannot be
 * turned around. A receiver accepts it within SKEW_MS of its own clock.
 *
 * Config vars reach a node sealed with `configKeyOf(secret)`: a control opens a
 * release's config with the cluster key and seals it again for the node it is
 * placed on (control/node-access.ts). `log` is the node's log producer secret
 * (logplex/credential.ts, id `node:<id>`).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { deriveCredential } from '../logplex/credential.ts';
import type { Cluster } from './client.ts';
import { ClusterError } from './errors.ts';
import type { HealthCheck, Slug } from './records.ts';
import { seal, unseal } from './sealed.ts';

export interface NodeCredentialFile {
  node: string;
  secret: Buffer;
  /** The node's log producer secret (`node:<id>`). */
  log: Buffer;
}

export type SignedBy = 'node' | 'control';

/** How far a signature's time may be from the receiver's clock. */
export const SKEW_MS = 120_000;

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/;

/** Makes a new secret for `node` and stores it sealed (a second enrolment replaces the first). */
export async function enrolNode(cluster: Cluster, clusterKey: Buffer, node: string, by: string): Promise<NodeCredentialFile> {
  if (!NODE_ID.test(node)) throw new ClusterError('DM_NODE_CREDENTIAL', `"${node}" is not a node id (letters, digits, . _ : -)`);
  const secret = randomBytes(32);
  await cluster.put(cluster.keys.nodeCredential(node), { node, secret: seal(clusterKey, { secret: secret.toString('hex') }), by, createdAt: Date.now() });
  return { node, secret, log: deriveCredential(clusterKey, `node:${node}`).secret };
}

/** The node's secret as a control sees it; undefined when the node is not enrolled (or revoked). */
export async function nodeSecret(cluster: Cluster, clusterKey: Buffer, node: string): Promise<Buffer | undefined> {
  if (!NODE_ID.test(node)) return undefined;
  const rec = (await cluster.get(cluster.keys.nodeCredential(node)))?.value;
  if (!rec) return undefined;
  const hex = unseal(clusterKey, rec.secret).secret ?? '';
  return /^[0-9a-f]{64}$/.test(hex) ? Buffer.from(hex, 'hex') : undefined;
}

/** The path of a one-off's attach WebSocket on its node's agent (signed by the control that opens it). */
export const attachPath = (app: string, dyno: string): string => `/dynos/${app}/${dyno}/attach`;

/** The key a node's config vars are sealed with on their way to it. */
export function configKeyOf(secret: Buffer): Buffer {
  return createHmac('sha256', secret).update('dynomesh-node-config-v1').digest();
}

function mac(secret: Buffer, dir: SignedBy, method: string, path: string, ts: number): Buffer {
  return createHmac('sha256', secret).update(`${dir}\0${method.toUpperCase()}\0${path}\0${ts}`).digest();
}

/** The Authorization header value for one request. */
export function signRequest(secret: Buffer, node: string, dir: SignedBy, method: string, path: string, now = Date.now()): string {
  return `DynomeshNode node=${node},ts=${now},sig=${mac(secret, dir, method, path, now).toString('hex')}`;
}

export interface NodeSignature {
  node: string;
  ts: number;
  sig: Buffer;
}

export function parseSignature(header: string | undefined): NodeSignature | undefined {
  const m = /^DynomeshNode node=([A-Za-z0-9][A-Za-z0-9._:-]{0,252}),ts=(\d{1,16}),sig=([0-9a-f]{64})$/.exec(header?.trim() ?? '');
  return m ? { node: m[1]!, ts: Number(m[2]), sig: Buffer.from(m[3]!, 'hex') } : undefined;
}

/** Whether `s` signs this request with `secret`, within SKEW_MS of `now`. */
export function verifySignature(secret: Buffer, s: NodeSignature, dir: SignedBy, method: string, path: string, now = Date.now()): boolean {
  if (Math.abs(now - s.ts) > SKEW_MS) return false;
  return timingSafeEqual(mac(secret, dir, method, path, s.ts), s.sig);
}

export function writeNodeCredential(path: string, c: NodeCredentialFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, JSON.stringify({ node: c.node, secret: c.secret.toString('hex'), log: c.log.toString('hex') }) + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** Reads a credential file; refuses one others can read (it opens this node's dynos' config). */
export function loadNodeCredential(path: string): NodeCredentialFile {
  let text: string;
  try {
    if ((statSync(path).mode & 0o077) !== 0) throw new ClusterError('DM_NODE_CREDENTIAL', `node credential ${path} is readable by others; chmod 600 ${path}`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof ClusterError) throw err;
    throw new ClusterError('DM_NODE_CREDENTIAL', `node credential ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); enrol this node on a control host with \`dynomesh nodes:enroll <id> --out ${path}\``);
  }
  try {
    const j = JSON.parse(text) as { node?: unknown; secret?: unknown; log?: unknown };
    const hex = (v: unknown) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
    if (typeof j.node !== 'string' || !NODE_ID.test(j.node) || !hex(j.secret) || !hex(j.log)) throw new Error('bad fields');
    return { node: j.node, secret: Buffer.from(j.secret as string, 'hex'), log: Buffer.from(j.log as string, 'hex') };
  } catch {
    throw new ClusterError('DM_NODE_CREDENTIAL', `node credential ${path} is not a credential file (expected {"node","secret","log"}); enrol the node again`);
  }
}

/** What a control serves a node for one placed release (`GET /internal/releases/:app/:version`). */
export interface NodeRelease {
  app: string;
  version: number;
  slug: Slug | null;
  processTypes: Record<string, string>;
  healthcheck?: HealthCheck;
  /** Config vars sealed with `configKeyOf(secret)` of the node asking, base64. */
  config: string;
}
