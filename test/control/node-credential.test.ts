/**
 * Per-node credentials against a real control on real etcd: a node fetches the
 * slug and config of a release only once it is placed on it, its config arrives
 * sealed for it alone, forged or replayed signatures are refused, and a revoked
 * node is refused at its next request.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { Cluster } from '../../cluster/client.ts';
import { configKeyOf, signRequest, type NodeCredentialFile, type NodeRelease } from '../../cluster/node-credential.ts';
import { peerToken, unseal } from '../../cluster/sealed.ts';
import type { Session } from '../../cluster/session.ts';
import { NodeAccess } from '../../control/node-access.ts';
import { deployRelease } from '../../control/releases.ts';
import { useEtcd, eventually } from '../support/etcd.ts';
import { ADMIN, fakeNode, startControl } from './support.ts';

const etcd = useEtcd();
let cluster: Cluster;
let ctl: Awaited<ReturnType<typeof startControl>>;
const creds: Record<string, NodeCredentialFile> = {};
const slugOf: Record<string, string> = {};
let n1: Session;

async function deploy(app: string, body: string, config: Record<string, string>): Promise<number> {
  assert.equal((await ctl.api('POST', '/apps', { name: app })).status, 201);
  const stored = await ctl.control.ctx.slugs.put(Readable.from([Buffer.from(body)]));
  slugOf[app] = stored.sha256;
  await deployRelease(ctl.control.ctx, app, { slug: { id: stored.sha256, sha256: stored.sha256, size: stored.size }, processTypes: { web: 'node server.js' }, author: 'test' });
  const r = await ctl.api('PATCH', `/apps/${app}/config-vars`, config);
  assert.equal(r.status, 200);
  // A first deploy asks for web=1; nothing runs until a test places it.
  assert.equal((await ctl.api('PATCH', `/apps/${app}/formation`, { updates: [{ type: 'web', quantity: 0 }] })).status, 200);
  return (await ctl.api('GET', `/apps/${app}/releases`)).body.at(-1).version as number;
}

/** A request as node `node` makes it, signed with `secret` (its own unless a test forges one). */
async function asNode(node: string, path: string, o: { secret?: Buffer; signedPath?: string; ts?: number } = {}) {
  const auth = signRequest(o.secret ?? creds[node]!.secret, node, 'node', 'GET', o.signedPath ?? path, o.ts);
  const res = await fetch(ctl.control.url + path, { headers: { authorization: auth } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

const openConfig = (node: string, body: Buffer) => unseal(configKeyOf(creds[node]!.secret), Buffer.from((JSON.parse(body.toString()) as NodeRelease).config, 'base64'));

describe('per-node credentials', () => {
  let shopV = 0;
  let blogV = 0;

  before(async () => {
    cluster = etcd.cluster();
    ctl = await startControl(etcd, cluster);
    shopV = await deploy('shop', 'shop slug', { SHOP_SECRET: 's3cret-shop' });
    blogV = await deploy('blog', 'blog slug', { BLOG_SECRET: 's3cret-blog' });
    for (const node of ['n1', 'n2']) {
      const r = await ctl.api('POST', `/nodes/${node}/credential`, {});
      assert.equal(r.status, 201);
      creds[node] = { node, secret: Buffer.from(r.body.secret, 'hex'), log: Buffer.from(r.body.log, 'hex') };
    }
    n1 = await fakeNode(cluster, 'n1');
  });

  after(async () => {
    await n1?.close();
    await ctl?.stop();
  });

  test('enrolment stores the secret sealed, never in clear, and only admins enrol', async () => {
    const rec = (await cluster.get(cluster.keys.nodeCredential('n1')))!.value;
    assert.ok(!Buffer.from(rec.secret).includes(creds.n1!.secret.toString('hex')));
    assert.equal((await ctl.api('POST', '/nodes/n3/credential', {}, { authorization: `Bearer ${peerToken(ctl.control.ctx.clusterKey)}` })).status, 401);
  });

  test('a node gets nothing of an app not placed on it; once placed, the slug and config sealed for it', async () => {
    assert.equal((await asNode('n1', `/internal/slugs/${slugOf.shop}`)).status, 404);
    assert.equal((await asNode('n1', `/internal/releases/shop/${shopV}`)).status, 404);

    assert.equal((await ctl.api('PATCH', '/apps/shop/formation', { updates: [{ type: 'web', quantity: 1 }] })).status, 200);
    await eventually(async () => (await cluster.get(cluster.keys.placement('n1', 'shop', 'web.1')))?.value.release === shopV, 15_000, 'shop web.1 placed on n1');

    const slug = await asNode('n1', `/internal/slugs/${slugOf.shop}`);
    assert.equal(slug.status, 200);
    assert.equal(slug.body.toString(), 'shop slug');
    const rel = await asNode('n1', `/internal/releases/shop/${shopV}`);
    assert.equal(rel.status, 200);
    assert.deepEqual(openConfig('n1', rel.body), { SHOP_SECRET: 's3cret-shop' });
    assert.ok(!rel.body.includes('s3cret-shop'), 'config is sealed on the wire');
    assert.throws(() => openConfig('n2', rel.body), /does not open/, 'another node\'s credential cannot open it');

    // Still nothing of another app, nor for another enrolled node.
    assert.equal((await asNode('n1', `/internal/slugs/${slugOf.blog}`)).status, 404);
    assert.equal((await asNode('n1', `/internal/releases/blog/${blogV}`)).status, 404);
    assert.equal((await asNode('n2', `/internal/slugs/${slugOf.shop}`)).status, 404);
    assert.equal((await asNode('n2', `/internal/releases/shop/${shopV}`)).status, 404);
  });

  test('forged, replayed and stale signatures are refused', async () => {
    const path = `/internal/slugs/${slugOf.shop}`;
    assert.equal((await asNode('n1', path, { secret: creds.n2!.secret })).status, 401, 'another node\'s secret');
    assert.equal((await asNode('n1', path, { signedPath: `/internal/slugs/${slugOf.blog}` })).status, 401, 'signed for another path');
    assert.equal((await asNode('n1', path, { ts: Date.now() - 10 * 60_000 })).status, 401, 'ten minutes old');
    assert.equal((await asNode('n9', path, { secret: creds.n1!.secret })).status, 401, 'not enrolled');
    const admin = await fetch(ctl.control.url + path, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(admin.status, 401, 'a user token is not a node');
  });

  test('a revoked node is refused at its next request, and cordoned', async () => {
    const path = `/internal/slugs/${slugOf.shop}`;
    assert.equal((await asNode('n1', path)).status, 200);
    const r = await ctl.api('DELETE', '/nodes/n1/credential');
    assert.equal(r.status, 200);
    assert.equal(r.body.was_enrolled, true);
    assert.equal((await asNode('n1', path)).status, 401);
    assert.equal((await asNode('n1', `/internal/releases/shop/${shopV}`)).status, 401);
    assert.equal((await cluster.get(cluster.keys.cordon('n1')))?.value.reason, 'revoked');
    // Enrolling again issues a new secret; the old one stays refused.
    const again = await ctl.api('POST', '/nodes/n1/credential', {});
    assert.equal(again.status, 201);
    assert.equal((await asNode('n1', path)).status, 401);
  });
});

describe('placement grace', () => {
  test('a placement just removed still counts for the grace, then not', async () => {
    const c = etcd.cluster();
    let now = 1_000_000;
    const access = new NodeAccess({ cluster: c, clusterKey: Buffer.alloc(32) } as never, 60_000, () => now);
    const key = c.keys.placement('g1', 'moved', 'web.1');
    await c.put(key, { app: 'moved', dyno: 'web.1', type: 'web', release: 4, size: 'standard-1x', memoryMb: 512, restartNonce: 0, createdAt: now });
    assert.ok((await access.releasesOn('g1')).has('moved@4'));
    await c.delete(key);
    now += 59_000;
    assert.ok((await access.releasesOn('g1')).has('moved@4'), 'within the grace');
    now += 2_000;
    assert.ok(!(await access.releasesOn('g1')).has('moved@4'), 'after the grace');
    assert.ok(!(await access.releasesOn('g2')).has('moved@4'), 'never for another node');
    c.close();
  });
});
