/** The Platform API against a real etcd: resources, Heroku shapes, auth, validation, sealing. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import type { Cluster } from '../../cluster/client.ts';
import { peerToken, unseal } from '../../cluster/sealed.ts';
import { enrolNode, parseSignature, verifySignature } from '../../cluster/node-credential.ts';
import { WebSocket, WebSocketServer } from 'ws';
import { Session } from '../../cluster/session.ts';
import { deployRelease } from '../../control/releases.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { ADMIN, client, dump, fakeNode, startControl } from './support.ts';

const etcd = useEtcd();
let cluster: Cluster;
let ctl: Awaited<ReturnType<typeof startControl>>;
let api: ReturnType<typeof client>;

describe('control API', () => {
before(async () => {
  cluster = etcd.cluster();
  ctl = await startControl(etcd, cluster);
  api = ctl.api;
});
after(async () => {
  await ctl?.stop();
});

async function deploy(app: string, content: string, processTypes: Record<string, string> = { web: 'node server.js' }) {
  const stored = await ctl.control.ctx.slugs.put(Readable.from([Buffer.from(content)]));
  return deployRelease(ctl.control.ctx, app, { slug: { id: stored.sha256, sha256: stored.sha256, size: stored.size }, processTypes, author: 'builder' });
}

describe('apps', () => {
  test('create, info, list; names are checked and unique', async () => {
    const r = await api('POST', '/apps', { name: 'shop' });
    assert.equal(r.status, 201);
    assert.equal(r.body.name, 'shop');
    assert.equal(r.body.web_url, 'http://shop.localhost:5000/');
    assert.match(r.body.git_url, /^http:\/\/127\.0\.0\.1:\d+\/shop\.git$/);
    assert.equal(r.body.maintenance, false);
    assert.equal(r.body.current_release.version, 1);
    const routing = await cluster.get(cluster.keys.routingApp('shop'));
    assert.deepEqual(routing?.value, { app: 'shop', affinity: 'ip', balanceFactor: 1.25, maintenance: false });

    assert.equal((await api('POST', '/apps', { name: 'shop' })).status, 409);
    const bad = await api('POST', '/apps', { name: 'Bad_Name' });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.id, 'invalid_params');
    assert.match(bad.body.message, /lowercase/);

    const random = await api('POST', '/apps', {});
    assert.equal(random.status, 201);
    assert.match(random.body.name, /^[a-z]+-[a-z]+-\d{4}$/);

    const list = await api('GET', '/apps');
    assert.ok(list.body.some((a: { name: string }) => a.name === 'shop'));
    assert.equal((await api('GET', '/apps/shop')).body.id, r.body.id);
    assert.equal((await api('GET', '/apps/nope')).status, 404);
    assert.equal((await api('GET', '/apps/NOT_AN_APP')).status, 404);
  });

  test('maintenance on/off through PATCH writes the routing record', async () => {
    const on = await api('PATCH', '/apps/shop', { maintenance: true });
    assert.equal(on.status, 200);
    assert.equal(on.body.maintenance, true);
    assert.equal((await cluster.get(cluster.keys.routingApp('shop')))?.value.maintenance, true);
    await api('PATCH', '/apps/shop', { maintenance: false });
    assert.equal((await cluster.get(cluster.keys.routingApp('shop')))?.value.maintenance, false);
    assert.equal((await api('PATCH', '/apps/shop', { maintenance: 'yes' })).status, 422);
  });

  test('routing settings (affinity, bounded-load factor) through PATCH', async () => {
    const r = await api('PATCH', '/apps/shop', { routing: { affinity: 'cookie:session_id', balance_factor: 1.5 } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.routing, { affinity: 'cookie:session_id', balance_factor: 1.5 });
    assert.deepEqual((await cluster.get(cluster.keys.routingApp('shop')))?.value, { app: 'shop', affinity: 'cookie:session_id', balanceFactor: 1.5, maintenance: false });
    const before = await dump(cluster);
    for (const routing of [{ affinity: 'cookie:' }, { affinity: 'sticky' }, { balance_factor: 0.5 }, 'ip']) {
      assert.equal((await api('PATCH', '/apps/shop', { routing })).status, 422, JSON.stringify(routing));
    }
    assert.equal((await api('PATCH', '/apps/shop', {})).status, 422);
    assert.equal((await api('PATCH', '/apps/shop', { name: 'other' })).status, 422);
    assert.deepEqual(await dump(cluster), before);
    await api('PATCH', '/apps/shop', { routing: { affinity: 'ip', balance_factor: 1.25 } });
  });
});

describe('config vars and releases', () => {
  test('each change is a release; values are sealed in etcd', async () => {
    const set = await api('PATCH', '/apps/shop/config-vars', { FOO: 'supersecret-foo', BAR: 'bar-value' });
    assert.equal(set.status, 200);
    assert.deepEqual(set.body, { FOO: 'supersecret-foo', BAR: 'bar-value' });
    const rels = (await api('GET', '/apps/shop/releases')).body;
    assert.deepEqual(rels.map((r: { version: number }) => r.version), [1, 2]);
    assert.equal(rels[1].description, 'Set FOO, BAR config vars');
    assert.equal(rels[1].current, true);
    assert.equal(rels[0].current, false);
    assert.equal(rels[1].user.email, 'admin');

    const rm = await api('PATCH', '/apps/shop/config-vars', { BAR: null });
    assert.deepEqual(rm.body, { FOO: 'supersecret-foo' });
    assert.equal((await api('GET', '/apps/shop/releases/3')).body.description, 'Remove BAR config vars');
    assert.deepEqual((await api('GET', '/apps/shop/config-vars')).body, { FOO: 'supersecret-foo' });
    assert.deepEqual((await api('GET', '/apps/shop/releases/v2/config-vars')).body, { FOO: 'supersecret-foo', BAR: 'bar-value' });

    // what `etcdctl get` would show: no plaintext anywhere under the prefix
    const raw = await cluster.etcd.getAll().prefix(cluster.keys.prefix).exec();
    for (const kv of raw.kvs) assert.ok(!kv.value.includes('supersecret'), `${kv.key} holds plaintext`);
    const sealed = await cluster.get(cluster.keys.config('shop'));
    assert.deepEqual(unseal(ctl.control.ctx.clusterKey, sealed!.value.sealed), { FOO: 'supersecret-foo' });
  });

  test('bad keys, values and sizes are refused with 422 and no release', async () => {
    const before = await dump(cluster);
    for (const body of [{ '1BAD': 'x' }, { 'A-B': 'x' }, { OK: { nested: true } }, [1, 2], { BIG: 'x'.repeat(33 * 1024) }]) {
      const r = await api('PATCH', '/apps/shop/config-vars', body);
      assert.equal(r.status, 422, JSON.stringify(body).slice(0, 40));
      assert.equal(r.body.id, 'invalid_params');
      assert.equal(typeof r.body.message, 'string');
    }
    assert.equal((await api('PATCH', '/apps/shop/config-vars', '{"FOO": ')).status, 400);
    assert.deepEqual(await dump(cluster), before);
  });

  test('deploy then rollback copies the old slug and config into a new release', async () => {
    const v4 = await deploy('shop', 'slug one');
    assert.equal(v4.version, 4);
    assert.match(v4.description, /^Deploy [0-9a-f]{7}$/);
    await api('PATCH', '/apps/shop/config-vars', { FOO: 'changed' });
    const v6 = await deploy('shop', 'slug two');
    assert.equal(v6.version, 6);

    const rb = await api('POST', '/apps/shop/releases', { release: 'v4' });
    assert.equal(rb.status, 201);
    assert.equal(rb.body.version, 7);
    assert.equal(rb.body.description, 'Rollback to v4');
    assert.equal(rb.body.slug.id, v4.slug!.id);
    assert.deepEqual((await api('GET', '/apps/shop/config-vars')).body, { FOO: 'supersecret-foo' }, 'config vars are v4 again');
    assert.deepEqual((await api('GET', '/apps/shop/releases/7/config-vars')).body, { FOO: 'supersecret-foo' });

    const byId = await api('POST', '/apps/shop/releases', { release: v6.id });
    assert.equal(byId.body.description, 'Rollback to v6');
    assert.equal(byId.body.slug.id, v6.slug!.id);
    assert.equal((await api('POST', '/apps/shop/releases', { release: 99 })).status, 422);
    assert.equal((await api('POST', '/apps/shop/releases', {})).status, 422);
    assert.equal((await api('GET', '/apps/shop/releases/99')).status, 404);
  });
});

describe('formation, dynos, domains', () => {
  test('formation lists process types of the current release; unknown types are 422', async () => {
    const f = await api('GET', '/apps/shop/formation');
    assert.deepEqual(f.body.map((x: { type: string; quantity: number }) => [x.type, x.quantity]), [['web', 1]]);
    const up = await api('PATCH', '/apps/shop/formation', { updates: [{ type: 'web', quantity: 2, size: 'Standard-2X' }] });
    assert.equal(up.status, 200);
    assert.deepEqual([up.body[0].quantity, up.body[0].size], [2, 'standard-2x']);
    const before = await dump(cluster);
    const unknown = await api('PATCH', '/apps/shop/formation', { updates: [{ type: 'worker', quantity: 1 }] });
    assert.equal(unknown.status, 422);
    assert.match(unknown.body.message, /worker/);
    assert.equal((await api('PATCH', '/apps/shop/formation/web', { quantity: -1 })).status, 422);
    assert.equal((await api('PATCH', '/apps/shop/formation/web', { size: 'huge' })).status, 422);
    assert.equal((await api('PATCH', '/apps/shop/formation', { web: 3 })).status, 422);
    assert.deepEqual(await dump(cluster), before);
    const one = await api('PATCH', '/apps/shop/formation/web', { quantity: 1, size: 'standard-1x' });
    assert.deepEqual([one.body.type, one.body.quantity, one.body.size], ['web', 1, 'standard-1x']);
  });

  test('dynos: listed with state, restarted by nonce, stopped and brought back', async () => {
    const n1 = await fakeNode(cluster, 'node-a');
    try {
      const placed = await eventually(async () => {
        const list = await cluster.list(cluster.keys.placementsOf('node-a'));
        return list.entries.find((e) => e.kind === 'placement' && e.value.app === 'shop');
      }, 10_000, 'shop web dyno placed');
      assert.equal(placed.kind, 'placement');
      const p = placed.value as { dyno: string; release: number };
      let d = (await api('GET', '/apps/shop/dynos')).body;
      assert.equal(d.length, 1);
      assert.equal(d[0].state, 'starting');
      assert.equal(d[0].release.version, p.release);
      assert.equal(d[0].host, '127.0.0.1');
      await cluster.put(cluster.keys.status('node-a', 'shop', p.dyno), {
        app: 'shop', dyno: p.dyno, node: 'node-a', release: p.release, state: 'up', since: Date.now(), restarts: 2, exitCode: null, message: '', nextRestartAt: null,
      });
      d = (await api('GET', '/apps/shop/dynos')).body;
      assert.deepEqual([d[0].state, d[0].restarts], ['up', 2]);

      assert.equal((await api('DELETE', `/apps/shop/dynos/${p.dyno}`)).status, 202);
      assert.equal((await cluster.get(cluster.keys.placement('node-a', 'shop', p.dyno)))?.value.restartNonce, 1);
      await api('DELETE', '/apps/shop/dynos');
      assert.equal((await cluster.get(cluster.keys.placement('node-a', 'shop', p.dyno)))?.value.restartNonce, 2);
      assert.equal((await api('DELETE', '/apps/shop/dynos/web.77')).status, 404);

      const created = placed.createRevision;
      assert.equal((await api('POST', `/apps/shop/dynos/${p.dyno}/actions/stop`)).status, 202);
      await eventually(async () => {
        const e = await cluster.get(cluster.keys.placement('node-a', 'shop', p.dyno));
        return e && e.createRevision > created && e.value.restartNonce === 0;
      }, 10_000, 'stopped dyno replaced by the formation');
    } finally {
      await n1.close();
    }
  });

  test('domains: unique across apps, default hostname listed, base domain reserved', async () => {
    await api('POST', '/apps', { name: 'blog' });
    const add = await api('POST', '/apps/shop/domains', { hostname: 'WWW.Shop.Example.com' });
    assert.equal(add.status, 201);
    assert.equal(add.body.hostname, 'www.shop.example.com');
    assert.deepEqual((await cluster.get(cluster.keys.domain('www.shop.example.com')))?.value, { app: 'shop' });
    assert.equal((await api('POST', '/apps/blog/domains', { hostname: 'www.shop.example.com' })).status, 409);
    assert.equal((await api('POST', '/apps/blog/domains', { hostname: 'not a host' })).status, 422);
    assert.equal((await api('POST', '/apps/blog/domains', { hostname: 'shop.localhost' })).status, 422);
    const list = (await api('GET', '/apps/shop/domains')).body;
    assert.deepEqual(list.map((d: { hostname: string; kind: string }) => `${d.kind}:${d.hostname}`), ['heroku:shop.localhost', 'custom:www.shop.example.com']);
    assert.equal((await api('DELETE', '/apps/blog/domains/www.shop.example.com')).status, 404);
    assert.equal((await api('DELETE', '/apps/shop/domains/www.shop.example.com')).status, 200);
    assert.equal(await cluster.get(cluster.keys.domain('www.shop.example.com')), undefined);
    assert.equal((await api('POST', '/apps/blog/domains', { hostname: 'www.shop.example.com' })).status, 201);
  });
});

describe('auth', () => {
  test('no token, a wrong token, or garbage are 401 and change nothing', async () => {
    const before = await dump(cluster);
    const anon = client(ctl.control.url, null);
    const wrong = client(ctl.control.url, 'dm_not-a-real-token-at-all-000000');
    const attempts: [string, string, unknown?][] = [
      ['GET', '/apps'],
      ['POST', '/apps', { name: 'evil' }],
      ['PATCH', '/apps/shop/config-vars', { FOO: 'evil' }],
      ['DELETE', '/apps/shop'],
      ['PATCH', '/apps/shop/formation', { updates: [{ type: 'web', quantity: 9 }] }],
      ['POST', '/oauth/authorizations', {}],
      ['GET', '/no/such/route'],
      ['GET', `/internal/slugs/${'0'.repeat(64)}`],
    ];
    for (const c of [anon, wrong]) {
      for (const [m, p, b] of attempts) {
        const r = await c(m, p, b);
        assert.equal(r.status, 401, `${m} ${p}`);
        assert.equal(r.body.id, 'unauthorized');
        assert.ok(r.headers.get('www-authenticate'));
        assert.ok(!JSON.stringify(r.body).includes('    at '), 'no stack trace');
      }
    }
    const garbage = await fetch(`${ctl.control.url}/apps`, { headers: { authorization: 'Bearer' } });
    assert.equal(garbage.status, 401);
    assert.deepEqual(await dump(cluster), before);
  });

  test('HTTP basic with the token as password works (git, Heroku CLI)', async () => {
    const basic = Buffer.from(`git:${ADMIN}`).toString('base64');
    const r = await fetch(`${ctl.control.url}/apps/shop`, { headers: { authorization: `Basic ${basic}` } });
    assert.equal(r.status, 200);
  });

  test('users: an admin adds an account with its first token; it sees only its apps; tokens stored hashed; revoked stop working', async () => {
    const made = await api('POST', '/users', { email: 'CI@example.com' });
    assert.equal(made.status, 201);
    assert.equal(made.body.email, 'ci@example.com');
    const token: string = made.body.token.access_token.token;
    assert.match(token, /^dm_/);
    const hash = createHash('sha256').update(token).digest('hex');
    assert.equal((await cluster.get(cluster.keys.token(hash)))?.value.user, 'ci@example.com');
    const raw = await cluster.etcd.getAll().prefix(cluster.keys.prefix).exec();
    assert.ok(raw.kvs.every((kv) => !kv.value.includes(token) && !kv.key.includes(token)), 'plaintext token is not stored');

    const user = client(ctl.control.url, token);
    assert.deepEqual((await user('GET', '/apps')).body, [], 'a new user sees no app');
    assert.equal((await user('GET', '/account')).body.email, 'ci@example.com');
    const before = await dump(cluster);
    const forbidden = await user('POST', '/oauth/authorizations', { user: 'admin' });
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.id, 'forbidden');
    assert.equal((await user('GET', '/users')).status, 403);
    assert.equal((await user('PATCH', '/apps/blog/config-vars', { X: '1' })).status, 404, 'not a member: 404');
    assert.deepEqual(await dump(cluster), before);

    // a collaborator's releases record who made them
    assert.equal((await api('POST', '/apps/blog/collaborators', { user: 'ci@example.com' })).status, 201);
    const rel = await user('PATCH', '/apps/blog/config-vars', { X: '1' });
    assert.equal(rel.status, 200);
    assert.equal((await api('GET', '/apps/blog/releases/2')).body.user.email, 'ci@example.com');

    assert.equal((await api('DELETE', `/oauth/authorizations/${made.body.token.id}`)).status, 200);
    assert.equal((await user('GET', '/apps')).status, 401);
    assert.equal((await api('DELETE', `/oauth/authorizations/${made.body.token.id}`)).status, 404);
  });
});

describe('one-off dynos', () => {
  test('run creates a run.N placement, attach relays both ways through control, finished runs are removed', async () => {
    const cred = await enrolNode(cluster, ctl.control.ctx.clusterKey, 'node-run', 'test');
    const seen: { auth?: string; path?: string; got?: string } = {};
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws, req) => {
      seen.auth = req.headers.authorization;
      seen.path = req.url;
      ws.send(Buffer.concat([Buffer.of(1), Buffer.from('hello from the dyno')]), { binary: true });
      ws.on('message', (data, isBinary) => {
        if (!isBinary) return;
        seen.got = (data as Buffer).toString();
        ws.send(JSON.stringify({ type: 'exit', status: 0, message: 'done' }));
        ws.close(1000, 'dyno exited');
      });
    });
    const session = await Session.create(cluster, 30);
    const agentUrl = `http://127.0.0.1:${(wss.address() as { port: number }).port}`;
    await session.put(cluster.keys.node('node-run'), { id: 'node-run', address: '127.0.0.1', memoryMb: 4096, labels: {}, slugs: [], startedAt: Date.now(), agentVersion: 't', agentUrl });
    try {
      assert.equal((await api('POST', '/apps/shop/dynos', {})).status, 422);
      assert.equal((await api('POST', '/apps/blog/dynos', { command: 'bash' })).status, 422, 'no code deployed yet');
      const r = await api('POST', '/apps/shop/dynos', { command: 'echo hi', attach: true });
      assert.equal(r.status, 201);
      assert.match(r.body.name, /^run\.\d{4}$/);
      assert.equal(r.body.command, 'echo hi');
      assert.equal(r.body.attach_url, `${ctl.control.url.replace('http', 'ws')}/apps/shop/dynos/${r.body.name}/attach`);
      const placed = (await cluster.list(cluster.keys.placements())).entries.find((e) => e.kind === 'placement' && e.value.dyno === r.body.name);
      assert.ok(placed && placed.kind === 'placement');
      assert.deepEqual([placed.value.command, placed.value.attach, placed.value.type], ['echo hi', true, 'run']);
      const nodeId = (placed.ref as { node: string }).node;

      const refused = await new Promise<number>((resolve) => {
        const t = setTimeout(() => resolve(-1), 10_000);
        const ws = new WebSocket(r.body.attach_url);
        ws.on('unexpected-response', (_req, res) => {
          clearTimeout(t);
          resolve(res.statusCode ?? 0);
        });
        ws.on('error', () => undefined);
      });
      assert.equal(refused, 401);

      assert.equal(nodeId, 'node-run');
      {
        const client = new WebSocket(r.body.attach_url, { headers: { authorization: `Bearer ${ADMIN}` } });
        const frames: string[] = [];
        const closed = new Promise<number>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`attach did not finish; frames so far: ${frames.join(' | ')}`)), 10_000);
          client.on('close', (code) => {
            clearTimeout(t);
            resolve(code);
          });
        });
        client.on('message', (data, isBinary) => {
          frames.push(isBinary ? `bin:${(data as Buffer).subarray(1).toString()}` : `text:${data.toString()}`);
          if (isBinary) client.send(Buffer.from('typed input'), { binary: true });
        });
        assert.equal(await closed, 1000);
        assert.deepEqual(frames, ['bin:hello from the dyno', 'text:{"type":"exit","status":0,"message":"done"}']);
        const sig = parseSignature(seen.auth);
        assert.ok(sig && sig.node === 'node-run' && verifySignature(cred.secret, sig, 'control', 'GET', seen.path!), 'signed with the node\'s own credential');
        assert.equal(seen.path, `/dynos/shop/${r.body.name}/attach`);
        assert.equal(seen.got, 'typed input');
      }

      // the node reports the run ended: the leader removes the placement
      await cluster.put(cluster.keys.status(nodeId, 'shop', r.body.name), {
        app: 'shop', dyno: r.body.name, node: nodeId, release: placed.value.release, state: 'down', since: Date.now(), restarts: 0, exitCode: 0, message: 'done', nextRestartAt: null,
      });
      await eventually(async () => !(await cluster.get(cluster.keys.placement(nodeId, 'shop', r.body.name))), 10_000, 'finished one-off removed');
    } finally {
      await session.close();
      wss.close();
    }
  });
});

describe('slug store and destroy', () => {
  test('slugs are served to other controls with the peer token (nodes: test/control/node-credential.test.ts)', async () => {
    const stored = await ctl.control.ctx.slugs.put(Readable.from([Buffer.from('a slug body')]));
    const url = `${ctl.control.url}/internal/slugs/${stored.sha256}`;
    const node = peerToken(ctl.control.ctx.clusterKey);
    const ok = await fetch(url, { headers: { authorization: `Bearer ${node}` } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-type'), 'application/gzip');
    assert.equal(await ok.text(), 'a slug body');
    assert.equal((await fetch(url, { headers: { authorization: `Bearer ${ADMIN}` } })).status, 401);
    assert.equal((await fetch(`${ctl.control.url}/internal/slugs/${'f'.repeat(64)}`, { headers: { authorization: `Bearer ${node}` } })).status, 404);
  });

  test('destroy removes every key of the app, its placements, domains and slugs', async () => {
    await api('POST', '/apps', { name: 'doomed' });
    const rel = await deploy('doomed', 'doomed slug');
    await api('POST', '/apps/doomed/domains', { hostname: 'doomed.example.org' });
    await api('PATCH', '/apps/doomed/config-vars', { K: 'v' });
    const n = await fakeNode(cluster, 'node-d');
    try {
      await eventually(async () => (await cluster.list(cluster.keys.placementsOf('node-d'))).entries.some((e) => e.kind === 'placement' && e.value.app === 'doomed'), 10_000, 'doomed placed');
      await cluster.put(cluster.keys.endpoint('node-d', 'doomed', 'web.1'), { app: 'doomed', dyno: 'web.1', node: 'node-d', host: '127.0.0.1', port: 1, release: rel.version });
      const hooked: string[] = [];
      ctl.control.ctx.beforeAppDestroy = [async (app) => void hooked.push(app)];
      const del = await api('DELETE', '/apps/doomed');
      assert.deepEqual(hooked, ['doomed']);
      assert.equal(del.status, 200);
      assert.equal(del.body.name, 'doomed');
      const left = Object.keys(await dump(cluster)).filter((k) => k.includes('/doomed'));
      assert.deepEqual(left, []);
      assert.equal(await ctl.control.ctx.slugs.has(rel.slug!.sha256), false);
      assert.equal((await api('GET', '/apps/doomed')).status, 404);
      assert.equal((await api('DELETE', '/apps/doomed')).status, 404);
    } finally {
      await n.close();
    }
  });
});

});
