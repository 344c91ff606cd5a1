/**
 * Add-ons through the Platform API of a real control plane (real etcd, real
 * PostgreSQL and Redis): attach = config vars + release, destroy = release
 * without them + database gone, failures leave nothing behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from '../../cluster/client.ts';
import { unseal } from '../../cluster/sealed.ts';
import { createAddon } from '../../control/addons/addons.ts';
import { AddonProviders } from '../../control/addons/registry.ts';
import { resourceName } from '../../control/addons/provider.ts';
import { useEtcd } from '../support/etcd.ts';
import { dump, startControl } from '../control/support.ts';
import { startPostgres, startRedis, type TestPostgres, type TestRedis } from './servers.ts';

const etcd = useEtcd();
let cluster: Cluster;
let pgServer: TestPostgres;
let redis: TestRedis;
let ctl: Awaited<ReturnType<typeof startControl>>;
let api: Awaited<ReturnType<typeof startControl>>['api'];

async function config(app: string): Promise<Record<string, string>> {
  return (await api('GET', `/apps/${app}/config-vars`)).body;
}

async function releases(app: string): Promise<{ version: number; description: string }[]> {
  return (await api('GET', `/apps/${app}/releases`)).body;
}

async function databases(): Promise<string[]> {
  return (await pgServer.query("SELECT datname FROM pg_database WHERE datname LIKE 'dm\\_%'")).rows.map((r) => r.datname as string);
}

describe('add-ons API', () => {
  before(async () => {
    [pgServer, redis] = await Promise.all([startPostgres(), startRedis()]);
    cluster = etcd.cluster();
    ctl = await startControl(etcd, cluster, { addons: { postgresql: pgServer.adminUrl, redis: redis.adminUrl, connectTimeoutMs: 2000 } });
    api = ctl.api;
    for (const name of ['shop', 'blog']) assert.equal((await api('POST', '/apps', { name })).status, 201);
  });
  after(async () => {
    await ctl?.stop();
    await Promise.all([pgServer?.destroy(), redis?.destroy()]);
  });

  test('create postgresql: DATABASE_URL set in a new release "Attach DATABASE (postgresql-…)"', async () => {
    const r = await api('POST', '/apps/shop/addons', { plan: 'postgresql' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.match(r.body.name, /^postgresql-[a-z]+-\d{5}$/);
    assert.equal(r.body.plan.name, 'postgresql:mini');
    assert.equal(r.body.attachment.name, 'DATABASE');
    assert.deepEqual(r.body.config_vars, ['DATABASE_URL']);
    assert.equal(r.body.state, 'provisioned');
    assert.equal(r.headers.get('x-dynomesh-release'), String(r.body.release.version));

    const cfg = await config('shop');
    assert.match(cfg.DATABASE_URL!, new RegExp(`^postgres://${resourceName(r.body.id)}:[^@]+@127\\.0\\.0\\.1:${pgServer.port}/${resourceName(r.body.id)}$`));
    const rels = await releases('shop');
    assert.equal(rels.at(-1)!.description, `Attach DATABASE (${r.body.name})`);
    assert.equal(rels.at(-1)!.version, r.body.release.version);
    // The release itself carries the var (dynos restart with it), sealed at rest.
    const rel = await cluster.get(cluster.keys.release('shop', r.body.release.version));
    assert.equal(unseal(ctl.control.ctx.clusterKey, rel!.value.config).DATABASE_URL, cfg.DATABASE_URL);
    assert.ok(!JSON.stringify(await dump(cluster)).includes(new URL(cfg.DATABASE_URL!).password));
    assert.ok((await databases()).includes(resourceName(r.body.id)));

    const list = (await api('GET', '/apps/shop/addons')).body;
    assert.deepEqual(list.map((a: { name: string }) => a.name), [r.body.name]);
    assert.equal((await api('GET', '/apps/shop/addons/DATABASE')).body.id, r.body.id);
    assert.equal((await api('GET', `/apps/shop/addons/${r.body.name}`)).body.attachment.name, 'DATABASE');
  });

  test('a second postgresql gets POSTGRESQL_<COLOR>; --as names it; a taken name or set var is refused', async () => {
    const second = await api('POST', '/apps/shop/addons', { plan: 'postgresql:basic' });
    assert.equal(second.status, 201);
    assert.match(second.body.attachment.name, /^POSTGRESQL_[A-Z]+$/);
    assert.deepEqual(second.body.config_vars, [`${second.body.attachment.name}_URL`]);

    const cache = await api('POST', '/apps/shop/addons', { plan: 'redis', attachment: { name: 'cache' } });
    assert.equal(cache.status, 201, JSON.stringify(cache.body));
    assert.deepEqual(cache.body.config_vars, ['CACHE_KEY_PREFIX', 'CACHE_URL']);
    assert.match((await config('shop')).CACHE_URL!, /^redis:\/\/dm_[0-9a-f]{32}:/);

    const taken = await api('POST', '/apps/shop/addons', { plan: 'redis', attachment: { name: 'CACHE' } });
    assert.equal(taken.status, 409);
    assert.match(taken.body.message, /CACHE is already attached to shop \(redis-[a-z]+-\d+\); choose another name with --as/);

    assert.equal((await api('PATCH', '/apps/blog/config-vars', { SESSIONS_URL: 'redis://elsewhere' })).status, 200);
    const before = await releases('blog');
    const users = ((await redis.call('ACL', 'USERS')) as Buffer[]).length;
    const clash = await api('POST', '/apps/blog/addons', { plan: 'redis', attachment: { name: 'SESSIONS' } });
    assert.equal(clash.status, 409);
    assert.match(clash.body.message, /SESSIONS_URL is already set on blog; remove it with config:unset or choose another name with --as/);
    assert.deepEqual(await releases('blog'), before);
    assert.equal((await api('GET', '/apps/blog/addons')).body.length, 0);
    assert.equal(((await redis.call('ACL', 'USERS')) as Buffer[]).length, users, 'the provisioned user was removed again');

    for (const bad of [{ plan: 'mysql' }, { plan: 'postgresql:gold' }, { plan: 'Postgres!' }, { plan: 'redis', attachment: { name: '1X' } }]) {
      const r = await api('POST', '/apps/blog/addons', bad);
      assert.equal(r.status, 422, JSON.stringify(bad));
    }
    assert.match((await api('POST', '/apps/blog/addons', { plan: 'mysql' })).body.message, /unknown add-on service "mysql"; available: postgresql, redis/);
    assert.match((await api('POST', '/apps/blog/addons', { plan: 'postgresql:gold' })).body.message, /no plan "gold"; plans: mini, basic, standard/);
    assert.equal((await api('POST', '/apps/nope/addons', { plan: 'postgresql' })).status, 404);
  });

  test('plan change keeps the vars and alters the role', async () => {
    const r = await api('PATCH', '/apps/shop/addons/DATABASE', { plan: 'postgresql:standard' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.plan.name, 'postgresql:standard');
    const limit = (await pgServer.query('SELECT rolconnlimit AS n FROM pg_roles WHERE rolname = $1', [resourceName(r.body.id)])).rows[0].n;
    assert.equal(limit, 200);
  });

  test('destroy: a release without the vars, then the database and role are gone', async () => {
    const info = (await api('GET', '/apps/shop/addons/DATABASE')).body;
    const d = await api('DELETE', `/apps/shop/addons/${info.name}`);
    assert.equal(d.status, 200, JSON.stringify(d.body));
    assert.equal(d.body.state, 'deprovisioned');
    const rels = await releases('shop');
    assert.equal(rels.at(-1)!.description, `Detach DATABASE (${info.name})`);
    assert.equal(rels.at(-1)!.version, d.body.release.version);
    assert.equal((await config('shop')).DATABASE_URL, undefined);
    assert.ok(!(await databases()).includes(resourceName(info.id)));
    assert.equal((await pgServer.query('SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1', [resourceName(info.id)])).rows[0].n, 0);
    assert.equal((await api('GET', '/apps/shop/addons/DATABASE')).status, 404);
    assert.equal((await api('DELETE', '/apps/shop/addons/DATABASE')).status, 404);
  });

  test('a provider that is down: 503 with one line, and no release, no config var, no record', async () => {
    await pgServer.stop();
    try {
      const before = await dump(cluster);
      const r = await api('POST', '/apps/blog/addons', { plan: 'postgresql' });
      assert.equal(r.status, 503);
      assert.equal(r.body.id, 'unavailable');
      assert.equal(r.body.message, `could not provision postgresql:mini for blog: the postgresql add-on server at 127.0.0.1:${pgServer.port} is unreachable (connection refused); nothing was changed. Try again later or ask the operator to check it.`);
      const afterKeys = await dump(cluster);
      for (const key of Object.keys(afterKeys)) if (key.includes('/addons/') || key.includes('releases') || key.includes('config')) assert.equal(afterKeys[key], before[key], key);
      assert.equal((await api('GET', '/apps/blog/addons')).body.length, 0);
    } finally {
      await pgServer.start();
    }
  });

  test('destroy while the provider is down: vars removed, add-on kept as deprovisioning; destroy again finishes', async () => {
    const made = await api('POST', '/apps/blog/addons', { plan: 'postgresql' });
    assert.equal(made.status, 201);
    await pgServer.stop();
    try {
      const d = await api('DELETE', '/apps/blog/addons/DATABASE');
      assert.equal(d.status, 503);
      assert.match(d.body.message, /its config vars were removed in v\d+, but postgresql-\S+ could not be deleted; run addons:destroy again: the postgresql add-on server .* is unreachable/);
      assert.equal((await config('blog')).DATABASE_URL, undefined);
      assert.equal((await api('GET', '/apps/blog/addons/DATABASE')).body.state, 'deprovisioning');
    } finally {
      await pgServer.start();
    }
    const n = (await releases('blog')).length;
    assert.equal((await api('DELETE', '/apps/blog/addons/DATABASE')).status, 200);
    assert.equal((await releases('blog')).length, n, 'no second detach release');
    assert.ok(!(await databases()).includes(resourceName(made.body.id)));
  });

  test('a create that died after reserving is resumed by the retry with the same id: one database', async () => {
    const providers = AddonProviders.fromConfig({ postgresql: pgServer.adminUrl }, ctl.control.ctx.clusterKey);
    const k = cluster.keys;
    const id = '6f1c2a8e-0b7d-4c61-9e35-2d8f4b7a1c90';
    // What a control instance leaves when it dies between reserving and attaching.
    const app = await cluster.get(k.app('blog'));
    assert.ok(app);
    await cluster.put(k.addon('blog', 'REPORTS'), { app: 'blog', name: 'REPORTS', id, service: 'postgresql', plan: 'mini', configVars: [], createdAt: Date.now(), addonName: 'postgresql-rigid-10001', state: 'provisioning' });
    await providers.get('postgresql').provision({ app: 'blog', plan: 'mini', options: {}, id });
    const dbs = (await databases()).length;
    const { addon, release } = await createAddon(ctl.control.ctx, providers, 'blog', { service: 'postgresql', as: 'reports', author: 'admin' });
    assert.equal(addon.id, id);
    assert.equal(addon.state, 'provisioned');
    assert.equal(release.description, 'Attach REPORTS (postgresql-rigid-10001)');
    assert.equal((await databases()).length, dbs, 'no second database');
    assert.equal((await api('DELETE', '/apps/blog/addons/REPORTS')).status, 200);
  });

  test('apps:destroy deprovisions its add-ons first; a provider that is down stops it with nothing deleted', async () => {
    assert.equal((await api('POST', '/apps', { name: 'doomed' })).status, 201);
    const db = (await api('POST', '/apps/doomed/addons', { plan: 'postgresql' })).body;
    const cache = (await api('POST', '/apps/doomed/addons', { plan: 'redis' })).body;
    assert.ok((await databases()).includes(resourceName(db.id)));
    await pgServer.stop();
    try {
      const r = await api('DELETE', '/apps/doomed');
      assert.equal(r.status, 503);
      assert.match(r.body.message, /^doomed was not destroyed: its add-on postgresql-\S+ could not be deleted: the postgresql add-on server .* is unreachable/);
      assert.equal((await api('GET', '/apps/doomed')).status, 200);
    } finally {
      await pgServer.start();
    }
    assert.equal((await api('DELETE', '/apps/doomed')).status, 200);
    assert.equal((await api('GET', '/apps/doomed')).status, 404);
    assert.ok(!(await databases()).includes(resourceName(db.id)));
    assert.ok(!((await redis.call('ACL', 'USERS')) as Buffer[]).map(String).includes(resourceName(cache.id)));
  });

  test('/addon-services lists the configured services and plans', async () => {
    const r = await api('GET', '/addon-services');
    assert.deepEqual(r.body.map((s: { name: string }) => s.name), ['postgresql', 'redis']);
    assert.equal(r.body[0].config_vars_prefix, 'DATABASE');
    assert.deepEqual(r.body[0].plans.map((p: { name: string }) => p.name), ['postgresql:mini', 'postgresql:basic', 'postgresql:standard']);
  });
});
