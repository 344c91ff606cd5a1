/**
 * Every route every control server registers (the Platform API with git, builds,
 * logs and add-ons on it, and the attach server), read from their route tables:
 * each must have a rule, and each is called by an owner, a collaborator, another
 * user, a read-only token, a deploy token for another app, an expired token, no
 * token and an admin. Refusals must have the expected status and change nothing
 * in etcd; a non-member's 404 must read exactly like the one for no such app.
 * Expected outcomes are written out here per kind of rule, not derived from the
 * policy's own tables.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import type { Cluster } from '../../cluster/client.ts';
import { peerToken } from '../../cluster/sealed.ts';
import { authLimiter } from '../../control/api/auth-limiter.ts';
import { attachRouter } from '../../control/api/attach.ts';
import { POLICY, type Rule } from '../../control/api/policy.ts';
import type { Route } from '../../control/api/router.ts';
import { ADMIN, client, type ApiResult } from '../control/support.ts';
import { useEtcd } from '../support/etcd.ts';
import { people, WHO, type People, type Who } from './fixture.ts';

const etcd = useEtcd();
let cluster: Cluster;
let p: People;

type Outcome = 'ok' | 401 | 403 | 404;
const row = (o: Partial<Record<Who, Outcome>>, base: Outcome = 'ok'): Record<Who, Outcome> =>
  Object.fromEntries(WHO.map((w) => [w, o[w] ?? (w === 'expired' || w === 'none' ? 401 : base)])) as Record<Who, Outcome>;

/** What each principal gets, per kind of rule. A rule shape missing here fails the test. */
const EXPECT: Record<string, Record<Who, Outcome>> = {
  public: row({ expired: 'ok', none: 'ok' }),
  static: row({ expired: 'ok', none: 'ok' }),
  node: row({}, 401),
  peer: row({}, 401),
  session: row({ other: 401, deployOther: 401 }),
  admin: row({ admin: 'ok' }, 403),
  'account:global,write,read,deploy': row({}),
  'account:global,write,read': row({ deployOther: 403 }),
  'account:global': row({ read: 403, deployOther: 403 }),
  'account:global,write+everyApp': row({ read: 403, deployOther: 403 }),
  'app:read': row({ other: 404, deployOther: 404 }),
  'app:read|deploy': row({ other: 404, deployOther: 404 }),
  'app:protected': row({ other: 404, deployOther: 404, read: 403 }),
  'app:write': row({ other: 404, deployOther: 404, read: 403 }),
  'app:deploy': row({ other: 404, deployOther: 404, read: 403 }),
  'app:manage': row({ other: 404, deployOther: 404, read: 403, collaborator: 403 }),
};

function ruleKey(rule: Rule, query = ''): string {
  switch (rule.kind) {
    case 'account': return `account:${rule.scopes.join(',')}${rule.everyApp ? '+everyApp' : ''}`;
    case 'app': return rule.gitService ? (query.includes('git-receive-pack') ? 'app:deploy' : 'app:protected') : `app:${rule.actions.join('|')}`;
    default: return rule.kind;
  }
}

let n = 0;
const fresh = (prefix: string) => `${prefix}${++n}`;

interface Call {
  path: string;
  body?: unknown;
  /** The fresh app the call is about (alice owns it, bob collaborates). */
  app: string;
}

/** A concrete request for a route, made fresh for each caller so no call depends on another. */
async function callFor(route: Route, who: Who): Promise<Call> {
  // Reads share one app; anything that may change state gets its own, so no call depends on another.
  const needsApp = route.parts.some((x) => x === ':app' || x === ':repo') || ['app', 'session'].includes(route.rule.kind);
  const app = needsApp && route.method !== 'GET' ? fresh('app') : 'alpha';
  if (needsApp && app !== 'alpha') await p.app(app);
  const params: Record<string, () => Promise<string> | string> = {
    ':app': () => app,
    ':repo': () => `${app}.git`,
    ':dyno': () => 'web.1',
    ':type': () => 'web',
    ':ref': () => '1',
    '*ref': () => 'syslog%3A%2F%2F127.0.0.1%3A1',
    ':host': () => 'www.example.com',
    ':addon': () => 'DATABASE',
    ':node': () => 'n1',
    ':sha': () => '0'.repeat(64),
    ':token': () => 'not-a-session',
    '*file': () => 'index.html',
    ':id': async () => {
      if (!route.pattern.startsWith('/oauth/')) return 'b1';
      // a token of the caller's own account, so revoking it is theirs to do
      const user = { owner: 'alice@example.com', read: 'alice@example.com', deployOther: 'alice@example.com', expired: 'alice@example.com', collaborator: 'bob@example.com', other: 'carol@example.com', admin: 'admin', none: 'alice@example.com' }[who];
      return (await p.ctl.api('POST', '/oauth/authorizations', { user, description: 'to revoke' })).body.id;
    },
    ':email': async () => {
      if (route.pattern.includes('collaborators')) return 'bob@example.com';
      const email = `${fresh('gone')}@example.com`;
      await p.ctl.api('POST', '/users', { email });
      return email;
    },
  };
  const segs: string[] = [];
  for (const part of route.parts) segs.push(params[part] ? await params[part]!() : part);
  const query = route.pattern === '/:repo/info/refs' ? '?service=git-upload-pack' : '';
  const bodies: Record<string, unknown> = {
    'POST /apps': { name: fresh('new') },
    'POST /users': { email: `${fresh('new')}@example.com` },
    'POST /oauth/authorizations': { description: 'x' },
    'POST /apps/:app/collaborators': { user: 'carol@example.com' },
    'POST /account/app-transfers': { app, recipient: 'carol@example.com' },
    'PATCH /apps/:app': { maintenance: true },
    'PATCH /apps/:app/config-vars': { A: '1' },
    'POST /apps/:app/domains': { hostname: `${app}.example.org` },
    'POST /apps/:app/log-drains': { url: 'syslog://127.0.0.1:1' },
  };
  const key = `${route.method} ${route.pattern}`;
  return { app, path: '/' + segs.join('/') + query, body: bodies[key] ?? (route.method === 'GET' || route.method === 'DELETE' ? undefined : {}) };
}

/** A WebSocket upgrade (the attach server): the refusal's status and body, or 101. */
function upgrade(path: string, token: string | null): Promise<ApiResult> {
  return new Promise((resolve) => {
    const ws = new WebSocket(p.ctl.control.url.replace(/^http/, 'ws') + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text), headers: new Headers() }));
    });
    ws.on('open', () => {
      ws.close();
      resolve({ status: 101, body: {}, headers: new Headers() });
    });
    ws.on('error', () => undefined);
  });
}


async function check(server: string, route: Route, send: (who: Who, call: Call) => Promise<ApiResult>) {
  const key = `${route.method} ${route.pattern}`;
  const query = route.pattern === '/:repo/info/refs' ? '?service=git-upload-pack' : '';
  const expect = EXPECT[ruleKey(route.rule, query)];
  assert.ok(expect, `${server} ${key}: no expected outcomes for rule ${JSON.stringify(route.rule)}; add them to EXPECT`);
  for (const who of WHO) {
    const call = await callFor(route, who);
    // The store's revision moves on any write at all: equal means the refusal wrote nothing.
    const before = await cluster.revision();
    const r = await send(who, call);
    const what = `${server} ${key} as ${who} (${route.method} ${call.path}) -> ${r.status} ${JSON.stringify(r.body)}`;
    const want = expect[who];
    if (want === 'ok') {
      assert.ok(![401, 403, 429].includes(r.status), what);
      if (r.status === 404) assert.ok(!String(r.body?.message).startsWith(`Couldn't find that app: ${call.app}.`), `${what}: refused as a non-member`);
      continue;
    }
    assert.equal(r.status, want, what);
    if (want === 404) {
      // Exactly what a caller gets for an app that does not exist: the name is not revealed.
      assert.deepEqual(r.body, { id: 'not_found', message: `Couldn't find that app: ${call.app}. Check the name with \`dynomesh apps\`.` }, what);
    }
    assert.equal(await cluster.revision(), before, `${what}: changed etcd`);
  }
}

describe('access policy over every route', () => {
  before(async () => {
    cluster = etcd.cluster();
    p = await people(etcd, cluster);
    await p.app('alpha');
    // This test fails authentication hundreds of times from one address on purpose.
    authLimiter(p.ctl.control.cluster).options = { max: 1_000_000, windowMs: 60_000 };
  });
  after(async () => {
    await p?.ctl.stop();
  });

  test('every registered route has a rule, and every rule a route', () => {
    const registered = [...p.ctl.control.router.routes, ...attachRouter().routes].map((r) => `${r.method} ${r.pattern}`);
    assert.ok(registered.length > 60, `found ${registered.length} routes`);
    assert.deepEqual(registered.filter((k) => !POLICY[k]), []);
    assert.deepEqual(Object.keys(POLICY).filter((k) => !registered.includes(k)), [], 'rules for routes nobody registers');
  });

  test('the Platform API, git, builds, logs and add-ons routes', async () => {
    for (const route of p.ctl.control.router.routes) {
      if (route.rule.kind === 'session') continue; // below: it takes a signed URL, not a token
      await check('api', route, (who, call) => client(p.ctl.control.url, p.tokens[who])(route.method, call.path, call.body));
    }
  });

  test('git info/refs for a push is a deploy', async () => {
    const route = p.ctl.control.router.routes.find((r) => r.pattern === '/:repo/info/refs')!;
    assert.equal(ruleKey(route.rule, '?service=git-receive-pack'), 'app:deploy');
    for (const who of ['read', 'other', 'owner'] as const) {
      const app = 'alpha';
      const r = await client(p.ctl.control.url, p.tokens[who])('GET', `/${app}.git/info/refs?service=git-receive-pack`);
      assert.equal(r.status, { read: 403, other: 404, owner: 200 }[who], `${who}: ${JSON.stringify(r.body)}`);
    }
  });

  test('the attach server', async () => {
    for (const route of attachRouter().routes) await check('attach', route, (who, call) => upgrade(call.path, p.tokens[who]));
  });

  test('log sessions: a URL works only for callers who could create one, and only while they may read', async () => {
    const route = p.ctl.control.router.routes.find((r) => r.rule.kind === 'session')!;
    await check('api', route, async (who, call) => {
      const made = await client(p.ctl.control.url, p.tokens[who])('POST', `/apps/${call.app}/log-sessions`, { lines: 10 });
      if (made.status !== 201) return client(p.ctl.control.url, null)('GET', call.path);
      return client(p.ctl.control.url, null)('GET', new URL(made.body.logplex_url).pathname);
    });
  });

  test('the peer token reaches peer routes and nothing else', async () => {
    const peer = client(p.ctl.control.url, peerToken(p.ctl.control.ctx.clusterKey));
    assert.equal((await peer('GET', `/internal/slugs/${'0'.repeat(64)}`)).status, 404);
    assert.equal((await peer('GET', '/internal/releases/alpha/1')).status, 401, 'release data is for the node it is placed on');
    assert.equal((await peer('GET', '/apps')).status, 401);
    assert.equal((await client(p.ctl.control.url, ADMIN)('GET', `/internal/slugs/${'0'.repeat(64)}`)).status, 401);
  });
});
