/** The postgresql provider against a real PostgreSQL server on loopback. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { PostgresProvider } from '../../control/addons/postgresql.ts';
import { ProviderError, resourceName } from '../../control/addons/provider.ts';
import { startPostgres, type TestPostgres } from './servers.ts';

let server: TestPostgres;
let provider: PostgresProvider;
const secret = randomBytes(32);

async function connectAs(url: string, db?: string): Promise<pg.Client> {
  const u = new URL(url);
  if (db) u.pathname = `/${db}`;
  const c = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

async function sql(url: string, text: string): Promise<pg.QueryResult> {
  const c = await connectAs(url);
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

before(async () => {
  server = await startPostgres();
  provider = new PostgresProvider(server.adminUrl, secret, { connectTimeoutMs: 2000 });
});
after(async () => {
  await server?.destroy();
});

describe('postgresql provider', () => {
  test('provision: a database owned by a new login role; DATABASE_URL works', async () => {
    const id = randomUUID();
    const { config } = await provider.provision({ app: 'shop', plan: 'mini', options: {}, id });
    const url = new URL(config.DATABASE_URL!);
    assert.equal(url.protocol, 'postgres:');
    assert.equal(url.host, `127.0.0.1:${server.port}`);
    assert.equal(url.username, resourceName(id));
    assert.equal(url.pathname, `/${resourceName(id)}`);
    assert.ok(url.password.length >= 40, 'a long random password');

    await sql(config.DATABASE_URL!, 'CREATE TABLE items (id serial primary key, name text)');
    await sql(config.DATABASE_URL!, "INSERT INTO items (name) VALUES ('a'), ('b')");
    assert.equal((await sql(config.DATABASE_URL!, 'SELECT count(*)::int AS n FROM items')).rows[0].n, 2);

    const role = (await server.query('SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolconnlimit FROM pg_roles WHERE rolname = $1', [resourceName(id)])).rows[0];
    assert.deepEqual(role, { rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolreplication: false, rolconnlimit: 20 });
    const owner = (await server.query('SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1', [resourceName(id)])).rows[0];
    assert.equal(owner.owner, resourceName(id));
    await provider.deprovision(id);
  });

  test('provisioning is idempotent on the id: a retry returns the same credentials and creates nothing more', async () => {
    const id = randomUUID();
    const before = (await server.query('SELECT count(*)::int AS n FROM pg_database')).rows[0].n;
    const first = await provider.provision({ app: 'shop', plan: 'mini', options: {}, id });
    const again = await Promise.all([1, 2].map(() => provider.provision({ app: 'shop', plan: 'mini', options: {}, id })));
    assert.deepEqual(again[0]!.config, first.config);
    assert.deepEqual(again[1]!.config, first.config);
    assert.equal((await server.query('SELECT count(*)::int AS n FROM pg_database')).rows[0].n, before + 1);
    assert.equal((await sql(first.config.DATABASE_URL!, 'SELECT 1 AS one')).rows[0].one, 1, 'the first credentials still work');
    await provider.deprovision(id);
  });

  test("one add-on's role cannot connect to another add-on's database", async () => {
    const a = randomUUID();
    const b = randomUUID();
    const ca = (await provider.provision({ app: 'app-a', plan: 'mini', options: {}, id: a })).config.DATABASE_URL!;
    const cb = (await provider.provision({ app: 'app-b', plan: 'mini', options: {}, id: b })).config.DATABASE_URL!;
    await assert.rejects(connectAs(ca, resourceName(b)), (err: Error & { code?: string }) => {
      assert.equal(err.code, '42501');
      assert.match(err.message, /permission denied for database/);
      return true;
    });
    await assert.rejects(connectAs(cb, resourceName(a)), /permission denied for database/);
    // Nor does a password guessed from another add-on's URL work for a different role.
    const wrong = new URL(ca);
    wrong.username = resourceName(b);
    wrong.pathname = `/${resourceName(b)}`;
    await assert.rejects(connectAs(wrong.toString()), /password authentication failed/);
    await provider.deprovision(a);
    await provider.deprovision(b);
  });

  test('deprovision drops the database and the role, ends open connections, and may be repeated', async () => {
    const id = randomUUID();
    const url = (await provider.provision({ app: 'shop', plan: 'mini', options: {}, id })).config.DATABASE_URL!;
    const open = await connectAs(url);
    await provider.deprovision(id);
    await assert.rejects(open.query('SELECT 1'));
    assert.equal((await server.query('SELECT count(*)::int AS n FROM pg_database WHERE datname = $1', [resourceName(id)])).rows[0].n, 0);
    assert.equal((await server.query('SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1', [resourceName(id)])).rows[0].n, 0);
    await assert.rejects(connectAs(url), /password authentication failed|does not exist/);
    await provider.deprovision(id); // already gone: still fine
  });

  test('plans set the connection limit; changePlan alters it; unknown plans and options are refused', async () => {
    const id = randomUUID();
    await provider.provision({ app: 'shop', plan: 'basic', options: {}, id });
    const limit = async () => (await server.query('SELECT rolconnlimit AS n FROM pg_roles WHERE rolname = $1', [resourceName(id)])).rows[0].n;
    assert.equal(await limit(), 60);
    await provider.changePlan(id, 'standard');
    assert.equal(await limit(), 200);
    await assert.rejects(provider.provision({ app: 'shop', plan: 'gold', options: {}, id: randomUUID() }), /no plan "gold"; plans: mini, basic, standard/);
    await assert.rejects(provider.provision({ app: 'shop', plan: 'mini', options: { version: '16' }, id: randomUUID() }), /takes no options/);
    await provider.deprovision(id);
  });

  test('bad admin credentials and a bad URL are one clear line', async () => {
    const wrong = new URL(server.adminUrl);
    wrong.password = 'nope';
    const p = new PostgresProvider(wrong.toString(), secret);
    await assert.rejects(p.provision({ app: 'shop', plan: 'mini', options: {}, id: randomUUID() }), (err: ProviderError) => {
      assert.ok(err instanceof ProviderError);
      assert.match(err.message, /refused control's admin credentials; the operator must fix --addon-postgresql/);
      assert.ok(!err.message.includes('nope'), 'never echoes the password');
      return true;
    });
    assert.throws(() => new PostgresProvider('mysql://x@y/z', secret), /must look like postgres:\/\//);
  });

  test('a server that is down: a clear "unreachable" error, marked unavailable', async () => {
    await server.stop();
    try {
      await assert.rejects(provider.provision({ app: 'shop', plan: 'mini', options: {}, id: randomUUID() }), (err: ProviderError) => {
        assert.ok(err instanceof ProviderError);
        assert.equal(err.unavailable, true);
        assert.equal(err.message, `the postgresql add-on server at 127.0.0.1:${server.port} is unreachable (connection refused); nothing was changed. Try again later or ask the operator to check it.`);
        return true;
      });
    } finally {
      await server.start();
    }
  });
});
