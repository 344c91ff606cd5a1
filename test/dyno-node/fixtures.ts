/**
 * Test fixtures for dyno-node: slug tarballs (well-formed or crafted), a slug
 * server that registers itself as a control member, releases and placements.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { chmod, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import type { Cluster } from '../../cluster/client.ts';
import type { Placement, Slug } from '../../cluster/records.ts';
import { seal } from '../../cluster/sealed.ts';
import { enrolNode, nodeSecret, parseSignature, verifySignature, writeNodeCredential } from '../../cluster/node-credential.ts';
import { NodeAccess } from '../../control/node-access.ts';
import type { ControlContext } from '../../control/context.ts';

export interface BuiltSlug {
  slug: Slug;
  body: Buffer;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A real slug: the files, tarred and gzipped with the app directory as root. */
export async function makeSlug(files: Record<string, string>): Promise<BuiltSlug> {
  const dir = await mkdtemp(`${tmpdir()}/dm-slug-src-`);
  try {
    for (const [name, text] of Object.entries(files)) {
      await mkdir(`${dir}/${name}`.replace(/\/[^/]+$/, ''), { recursive: true });
      await writeFile(`${dir}/${name}`, text);
    }
    const out = `${dir}.tgz`;
    await tar.c({ gzip: true, file: out, cwd: dir, portable: true }, Object.keys(files).map((f) => f.split('/')[0]!).filter((v, i, a) => a.indexOf(v) === i));
    const { readFile } = await import('node:fs/promises');
    const body = await readFile(out);
    await rm(out, { force: true });
    const h = sha(body);
    return { slug: { id: h, sha256: h, size: body.length }, body };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface RawEntry {
  path: string;
  /** ustar type flag: '0' file, '1' hard link, '2' symlink, '3' char device, '5' directory. */
  type: '0' | '1' | '2' | '3' | '5';
  body?: string;
  linkpath?: string;
}

/** A hand-written ustar archive, so entries can be what no well-behaved tar tool would write. */
export function craftTarball(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const h = Buffer.alloc(512);
    h.write(e.path, 0, 100, 'utf8');
    h.write(e.type === '5' ? '0000755\0' : '0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(body.length.toString(8).padStart(11, '0') + '\0', 124);
    h.write(Math.floor(Date.now() / 1000).toString(8).padStart(11, '0') + '\0', 136);
    h.write('        ', 148);
    h.write(e.type, 156);
    if (e.linkpath) h.write(e.linkpath, 157, 100, 'utf8');
    h.write('ustar\0' + '00', 257);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

export function slugOf(body: Buffer): BuiltSlug {
  const h = sha(body);
  return { slug: { id: h, sha256: h, size: body.length }, body };
}

/**
 * Serves slugs and release data like a control (the same NodeAccess: only what
 * is placed on the signing node) and registers as a control member.
 */
export class SlugServer {
  readonly slugs = new Map<string, Buffer>();
  requests = 0;
  private server: Server | undefined;
  url = '';

  constructor(private readonly clusterKey: Buffer) {}

  add(s: BuiltSlug): void {
    this.slugs.set(s.slug.sha256, s.body);
  }

  async start(cluster: Cluster, id = `slugs-${randomBytes(3).toString('hex')}`): Promise<void> {
    const access = new NodeAccess({ cluster, clusterKey: this.clusterKey } as ControlContext);
    this.server = createServer((req, res) => void (async () => {
      const url = req.url ?? '';
      const sig = parseSignature(req.headers.authorization);
      const secret = sig && (await nodeSecret(cluster, this.clusterKey, sig.node));
      if (!sig || !secret || !verifySignature(secret, sig, 'node', req.method ?? 'GET', url)) return res.writeHead(401).end('unauthorized');
      const rel = /^\/internal\/releases\/([^/]+)\/(\d+)$/.exec(url);
      if (rel) {
        const r = await access.release(sig.node, rel[1]!, Number(rel[2]));
        return r ? res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(r)) : res.writeHead(404).end('not placed here');
      }
      this.requests++;
      const m = /^\/internal\/slugs\/([0-9a-f]{64})$/.exec(url);
      const body = m && (await access.maySlug(sig.node, m[1]!)) ? this.slugs.get(m[1]!) : undefined;
      if (!body) return res.writeHead(404).end('no such slug');
      res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': body.length }).end(body);
    })().catch(() => res.writeHead(500).end()));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    await cluster.put(cluster.keys.member(id), { id, api: this.url, startedAt: Date.now() });
  }

  async stop(): Promise<void> {
    await new Promise((r) => this.server?.close(r));
  }
}

export async function putRelease(
  cluster: Cluster, key: Buffer, app: string, version: number, slug: Slug, processTypes: Record<string, string>, config: Record<string, string> = {},
): Promise<void> {
  await cluster.put(cluster.keys.release(app, version), {
    app, version, slug, processTypes, config: seal(key, config), description: `Deploy v${version}`, author: 'test', createdAt: Date.now(),
  });
}

export async function place(cluster: Cluster, node: string, p: Partial<Placement> & { app: string; dyno: string; release: number }): Promise<void> {
  const placement: Placement = {
    type: p.dyno.split('.')[0]!, size: 'standard-1x', memoryMb: 512, restartNonce: 0, createdAt: Date.now(), ...p,
  };
  await cluster.put(cluster.keys.placement(node, p.app, p.dyno), placement);
}

/** A data dir the dyno users can traverse. */
export async function dataDir(): Promise<string> {
  const d = await mkdtemp(`${tmpdir()}/dm-node-`);
  await chmod(d, 0o711);
  return d;
}

/** A world-writable directory for dynos (running as their app user) to leave marks in. */
export async function markDir(): Promise<string> {
  const d = await mkdtemp(`${tmpdir()}/dm-marks-`);
  await chmod(d, 0o777);
  return d;
}

/** A web app: answers with its env and identity; binds after $LISTEN_DELAY ms; logs SIGTERM to $TERM_LOG; ignores it with IGNORE_TERM. */
export const WEB_APP = `
const http = require('http');
const fs = require('fs');
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ env: process.env, uid: process.getuid(), pid: process.pid, cwd: process.cwd() }));
});
setTimeout(() => server.listen(Number(process.env.PORT), () => console.log('listening on ' + process.env.PORT)), Number(process.env.LISTEN_DELAY || 0));
process.on('SIGTERM', () => {
  if (process.env.TERM_LOG) fs.appendFileSync(process.env.TERM_LOG, process.env.DYNO + ' ' + process.env.MARK + ' sigterm ' + Date.now() + '\\n');
  if (process.env.IGNORE_TERM) return;
  server.close();
  process.exit(0);
});
`;

/** Allocates and touches 16 MB every 50 ms until something kills it (stops growing at 768 MB, so a broken limit cannot starve the host). */
/**
 * Grows by 16 MB every 50 ms, but first holds for 2.5 s once past 80 MB (over a
 * 64 MB quota, under 2x): the agent polls once a second, so it sees R14 before R15
 * however the polls fall.
 */
export const HOG_APP = `
const keep = [];
let heldAt = 0;
setInterval(() => {
  const rss = process.memoryUsage().rss / 1048576;
  const holding = rss > 80 && (heldAt ||= Date.now()) > Date.now() - 2500;
  if (!holding && keep.length < 48) keep.push(Buffer.alloc(16 * 1024 * 1024, 1));
  console.log('rss=' + Math.round(process.memoryUsage().rss / 1048576) + 'M');
}, 50);
`;

/** Enrols a node with the test's cluster key and writes its credential file (0600) for a `dynomesh dyno-node` process. */
export async function credentialFile(cluster: Cluster, clusterKey: Buffer, node: string, path: string): Promise<string> {
  writeNodeCredential(path, await enrolNode(cluster, clusterKey, node, 'test'));
  return path;
}
