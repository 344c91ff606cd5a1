/**
 * Add-ons end to end with real processes on loopback: etcd, PostgreSQL, Redis,
 * `dynomesh control` (add-on servers from DYNOMESH_ADDON_*), a router and a dyno-node. Two apps are
 * `git push`ed (test/addons/apps/counter: counts rows in DATABASE_URL through psql);
 * `dynomesh addons:create postgresql` attaches a database and the dynos restart
 * with it; the row count comes back through the router; app A's credentials do
 * not open app B's database; addons:destroy drops it; a provider that is down is
 * one clear line and no release. Also: redis --as CACHE, addons:upgrade, addons:services.
 */
import { deriveCredential, writeCredential } from '../../logplex/credential.ts';
import { loadClusterKey } from '../../cluster/sealed.ts';
import { enrolInto } from '../support/node-credential.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../lib/ports.ts';
import type { Cluster } from '../../cluster/client.ts';
import { resourceName } from '../../control/addons/provider.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { ADMIN } from '../control/support.ts';
import { appRepo, git, remote } from '../build/support.ts';
import { BIN, Daemon } from '../logs/procs.ts';
import { startPostgres, startRedis, type TestPostgres, type TestRedis } from './servers.ts';
import { addonHost } from '../support/host.ts';
import { listEndpointsOf } from '../support/dyno-keys.ts';

const etcd = useEtcd();
const APPS = ['counter-a', 'counter-b'] as const;

function get(port: number, app: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host: `${app}.localhost` }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    });
    req.setTimeout(15_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('add-ons end to end: addons:create postgresql, through the router', () => {
  let dir: string;
  let cluster: Cluster;
  let pgServer: TestPostgres;
  let redis: TestRedis;
  const daemons: Daemon[] = [];
  let apiUrl = '';
  let routerPort = 0;
  let repo: { dir: string; cleanup(): void } | undefined;
  const dump = () => daemons.map((d) => d.tail()).join('\n');

  /** The CLI as a user runs it (token and API from the environment). */
  const cli = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, HOME: dir, DYNOMESH_API_URL: apiUrl, DYNOMESH_API_KEY: ADMIN, DYNOMESH_LOG_LEVEL: 'warn' }, timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  /** The app runs exactly one web dyno, of its latest release (a release roll is over). */
  const settled = (app: string) => eventually(async () => {
    const cur = await cluster.get(cluster.keys.current(app));
    const eps = (await listEndpointsOf(cluster, app)).entries.map((e) => e.value as { release: number });
    return eps.length === 1 && eps[0]!.release === cur?.value.version;
  }, 60_000, `${app} rolled to its latest release`).catch((err: Error) => { throw new Error(`${err.message}\n${dump()}`); });
  const releases = async (app: string) => (JSON.parse((await cli('releases', '-a', app, '--json')).stdout) as { version: number; description: string }[]).sort((x, y) => x.version - y.version);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dm-addons-e2e-'));
    chmodSync(dir, 0o711); // dyno users (as root) traverse into the node dir
    mkdirSync(join(dir, 'node'), { mode: 0o711 });
    // Where the dynos can reach them: the host's address when they run in containers (root).
    [pgServer, redis] = await Promise.all([startPostgres(addonHost()), startRedis(addonHost())]);
    cluster = etcd.cluster();
    const key = join(dir, 'cluster.key');
    writeFileSync(key, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    routerPort = await freePort();
    const apiPort = await freePort();
    apiUrl = `http://127.0.0.1:${apiPort}`;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH, HOME: dir, DYNOMESH_LOG_LEVEL: 'warn', DYNOMESH_BOOTSTRAP_TOKEN: ADMIN,
      DYNOMESH_ETCD: etcd.server.endpoint, DYNOMESH_PREFIX: cluster.keys.prefix, DYNOMESH_CLUSTER_KEY: key,
      DYNOMESH_ADDON_POSTGRESQL: pgServer.adminUrl, // the env fallbacks of --addon-postgresql, --addon-redis
      DYNOMESH_ADDON_REDIS: redis.adminUrl,
    };
    daemons.push(new Daemon('control', ['control', '--listen', `127.0.0.1:${apiPort}`, '--data-dir', join(dir, 'control'), '--lease-ttl', '2', '--router-port', String(routerPort)], env));
    // The router gets its own log credential, issued from the cluster key (it never holds the key).
    writeCredential(join(dir, 'router.credential'), deriveCredential(loadClusterKey(key), 'router:r1'));
    daemons.push(new Daemon('router', ['router', '--port', String(routerPort), '--admin-port', 'off', '--log-credential', join(dir, 'router.credential')], env));
    await enrolInto(cluster, key, 'n1', join(dir, 'node'));
    daemons.push(new Daemon('dyno-node', ['dyno-node', '--node-id', 'n1', '--data-dir', join(dir, 'node'), '--memory', '2048', '--lease-ttl', '3', '--boot-timeout', '30s', '--stop-timeout', '3s', '--drain', '100ms'], env));
    try {
      await eventually(async () => (await fetch(`${apiUrl}/health`).catch(() => undefined))?.status === 200, 60_000, 'control healthy');
      await eventually(async () => (await cluster.list(cluster.keys.nodes())).entries.length === 1, 60_000, 'dyno-node registered');
      repo = await appRepo(join(import.meta.dirname, 'apps/counter'), 'counter');
      for (const app of APPS) {
        const created = await cli('apps:create', app);
        assert.equal(created.code, 0, created.stderr);
        const push = await git(repo.dir, ['push', '-q', remote(apiUrl, app, ADMIN), 'main']);
        assert.equal(push.code, 0, `git push ${app}: ${push.stderr}`);
        await eventually(async () => (await get(routerPort, app).catch(() => ({ status: 0, body: '' }))).body === 'no DATABASE_URL', 60_000, `${app} serves`);
      }
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${dump()}`);
    }
  });

  after(async () => {
    for (const d of [...daemons].reverse()) await d.stop();
    await Promise.all([pgServer?.destroy(), redis?.destroy()]);
    repo?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('addons:create postgresql: a release attaches DATABASE_URL and the dyno counts rows through the router', { timeout: 120_000 }, async () => {
    for (const app of APPS) {
      const r = await cli('addons:create', 'postgresql', '-a', app);
      assert.equal(r.code, 0, r.stderr + dump());
      assert.match(r.stderr, new RegExp(`Creating postgresql on ⬢ ${app}\\.\\.\\. done, v\\d+`));
      assert.match(r.stdout, /^Created postgresql-[a-z]+-\d{5} as DATABASE_URL\n$/);
      const rels = await releases(app);
      assert.match(rels.at(-1)!.description, /^Attach DATABASE \(postgresql-[a-z]+-\d{5}\)$/);
    }
    // The release restarts the dyno with the new environment; then every request adds a row.
    for (const app of APPS) await settled(app);
    assert.match((await get(routerPort, 'counter-a')).body, /^visits=1 dyno=web\.\d+$/);
    assert.match((await get(routerPort, 'counter-a')).body, /^visits=2 /);
    assert.match((await get(routerPort, 'counter-a')).body, /^visits=3 /);
    assert.match((await get(routerPort, 'counter-b')).body, /^visits=1 /, 'a separate database: its own count');

    const list = await cli('addons', '-a', 'counter-a');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /postgresql-[a-z]+-\d{5} +postgresql:mini +DATABASE +DATABASE_URL +provisioned/);
    const info = await cli('addons:info', 'DATABASE', '-a', 'counter-a');
    assert.match(info.stdout, /=== postgresql-[a-z]+-\d{5}\nAttachments: +counter-a::DATABASE\n/);
  });

  test("app A's dyno cannot open app B's database with its own credentials", { timeout: 60_000 }, async () => {
    const b = JSON.parse((await cli('addons:info', 'DATABASE', '-a', 'counter-b', '--json')).stdout) as { id: string };
    const peek = await get(routerPort, 'counter-a', `/peek?db=${resourceName(b.id)}`);
    assert.equal(peek.status, 403, peek.body);
    assert.match(peek.body, new RegExp(`FATAL: +permission denied for database "${resourceName(b.id)}"`));
    const own = JSON.parse((await cli('addons:info', 'DATABASE', '-a', 'counter-a', '--json')).stdout) as { id: string };
    assert.equal((await get(routerPort, 'counter-a', `/peek?db=${resourceName(own.id)}`)).body, 'connected');
  });

  test('addons:services; redis --as CACHE: the ACL user works with the config vars; addons:upgrade', { timeout: 60_000 }, async () => {
    const services = await cli('addons:services');
    assert.match(services.stdout, /postgresql +mini \(default\), basic, standard +DATABASE_URL\nredis +mini \(default\) +REDIS_URL\n$/);
    const r = await cli('addons:create', 'redis', '--as', 'cache', '-a', 'counter-b');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Created redis-[a-z]+-\d{5} as CACHE_KEY_PREFIX, CACHE_URL\n$/);
    assert.match(r.stderr, /Keys must start with dm_[0-9a-f]{32}:/);
    const cfg = JSON.parse((await cli('config', '-a', 'counter-b', '--json')).stdout) as Record<string, string>;
    const rc = (...args: string[]) => new Promise<string>((resolve) => execFile('redis-cli', ['--no-auth-warning', '-u', cfg.CACHE_URL!, ...args], (_e, out, err) => resolve((out + err).trim())));
    assert.equal(await rc('SET', `${cfg.CACHE_KEY_PREFIX}hits`, '1'), 'OK');
    assert.match(await rc('SET', 'hits', '1'), /NOPERM/);

    const up = await cli('addons:upgrade', 'DATABASE', 'basic', '-a', 'counter-b');
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /Changing postgresql-\S+ on ⬢ counter-b from postgresql:mini to postgresql:basic\.\.\. done/);
    assert.match((await cli('addons', '-a', 'counter-b')).stdout, /postgresql:basic +DATABASE[\s\S]*redis:mini +CACHE +CACHE_KEY_PREFIX, CACHE_URL +provisioned/);
    await settled('counter-b');
  });

  test('a provider that is down: one clear line, exit 1, no release', { timeout: 60_000 }, async () => {
    await pgServer.stop();
    try {
      const before = await releases('counter-a');
      const r = await cli('addons:create', 'postgresql', '--as', 'REPORTS', '-a', 'counter-a');
      assert.equal(r.code, 1);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 2, r.stderr);
      assert.equal(lines[0], 'Creating postgresql on ⬢ counter-a... failed');
      assert.match(lines[1]!, /^ ▸ +could not provision postgresql:mini for counter-a: the postgresql add-on server at [\d.]+:\d+ is unreachable \(connection refused\); nothing was changed\. Try again later or ask the operator to check it\.$/);
      assert.deepEqual(await releases('counter-a'), before);
      assert.doesNotMatch((await cli('addons', '-a', 'counter-a')).stdout, /REPORTS/);
    } finally {
      await pgServer.start();
    }
  });

  test('addons:destroy --confirm: a release without DATABASE_URL, the database is dropped', { timeout: 90_000 }, async () => {
    const a = JSON.parse((await cli('addons:info', 'DATABASE', '-a', 'counter-a', '--json')).stdout) as { id: string; name: string };
    const refused = await cli('addons:destroy', a.name, '-a', 'counter-a');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /to proceed, re-run with --confirm counter-a/);

    const d = await cli('addons:destroy', a.name, '-a', 'counter-a', '--confirm', 'counter-a');
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stderr, new RegExp(`Destroying ${a.name} on ⬢ counter-a\\.\\.\\. done, v\\d+`));
    assert.equal((await releases('counter-a')).at(-1)!.description, `Detach DATABASE (${a.name})`);
    const dbs = (await pgServer.query('SELECT datname FROM pg_database')).rows.map((r) => r.datname as string);
    assert.ok(!dbs.includes(resourceName(a.id)), 'database dropped');
    const roles = (await pgServer.query('SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1', [resourceName(a.id)])).rows[0].n;
    assert.equal(roles, 0, 'role dropped');
    await settled('counter-a');
    assert.equal((await get(routerPort, 'counter-a')).body, 'no DATABASE_URL', 'restarted without DATABASE_URL');
    assert.match((await cli('addons', '-a', 'counter-a')).stderr, /No add-ons for app counter-a/);
    // The other app's database is untouched.
    assert.match((await get(routerPort, 'counter-b')).body, /^visits=2 /);
  });
});
