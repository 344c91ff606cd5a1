/**
 * `dynomesh up`'s own PostgreSQL and Redis, through the product: `up` (as root, so
 * dynos run in containers and reach the servers on the host's address through the
 * firewall rule control's member record opens), examples/node-visits deployed by a
 * real `git push`, `addons:create postgresql` and `addons:create redis`; the dyno
 * counts visits in both; `dynomesh down` then `up` keeps the rows, the Redis key and
 * the Redis user; `apps:destroy` drops the database, its role and the Redis user.
 * No admin or add-on password reaches a log; `up --no-addons` runs neither.
 * Unit checks: which servers `up` runs, and on which address.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { servicesToRun } from '../../cli/up/addons.ts';
import { hostAddress } from '../../lib/host-address.ts';
import { RespClient } from '../../control/addons/resp.ts';
import { resourceName } from '../../control/addons/provider.ts';
import { eventually } from '../support/etcd.ts';
import { ROOT, Up } from '../support/up.ts';

const APP = 'visits';
/** This file's own bridges (a bridge is per subnet), so it shares no addresses with other clusters on the host. */
const DYNO_SUBNET = '10.244.0.0/16';
const BUILD_SUBNET = '10.245.0.0/16';
const root = process.getuid?.() === 0;
/** As `up` decides: dynos in containers, so the servers are on the host's address. */
const isolated = root && process.env.DYNOMESH_ISOLATION !== 'off';

interface Stats {
  dyno: string;
  postgresql: number | null;
  redis: number | null;
}

interface AdminFile {
  host: string;
  servers: Record<'postgresql' | 'redis', { port: number; password: string }>;
}

describe('which add-on servers `up` runs', () => {
  test('both by default; --no-addons none; an operator\'s DYNOMESH_ADDON_* replaces ours', () => {
    const names = (enabled: boolean, env: NodeJS.ProcessEnv) => servicesToRun(enabled, env).map((s) => s.name);
    assert.deepEqual(names(true, {}), ['postgresql', 'redis']);
    assert.deepEqual(names(false, {}), []);
    assert.deepEqual(names(true, { DYNOMESH_ADDON_POSTGRESQL: 'postgres://admin:pw@db:5432/postgres' }), ['redis']);
    assert.deepEqual(names(true, { DYNOMESH_ADDON_REDIS: 'redis://default:pw@cache:6379' }), ['postgresql']);
  });

  test('the address dynos reach is that of the default route\'s interface', () => {
    const routes = 'Iface\tDestination\tGateway\nbr0\t0000FEA9\t00000000\neth1\t00000000\t0101A8C0\n';
    const ifaces = {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
      br0: [{ address: '169.254.0.1', family: 'IPv4', internal: false }],
      eth1: [{ address: 'fe80::1', family: 'IPv6', internal: false }, { address: '192.168.1.7', family: 'IPv4', internal: false }],
    } as unknown as ReturnType<typeof import('node:os').networkInterfaces>;
    assert.equal(hostAddress(routes, ifaces), '192.168.1.7');
    assert.equal(hostAddress('Iface\tDestination\n', ifaces), '169.254.0.1', 'no default route: the first non-loopback address');
    assert.equal(hostAddress('', { lo: ifaces.lo }), undefined);
  });
});

describe('dynomesh up: PostgreSQL and Redis add-ons out of the box', () => {
  let up: Up | undefined;
  let work = '';
  let builds = '';
  const u = () => up!;
  const admin = () => JSON.parse(readFileSync(join(u().home, 'addons', 'admin.json'), 'utf8')) as AdminFile;
  /** SQL as the superuser on `db` (pg_hba lets the superuser in from this host only). */
  const pgAdmin = async <T>(db: string, fn: (c: pg.Client) => Promise<T>) => {
    const a = admin();
    const c = new pg.Client({ host: a.host, port: a.servers.postgresql.port, user: 'admin', password: a.servers.postgresql.password, database: db });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  const redisAdmin = async (...args: string[]) => {
    const a = admin();
    const c = await RespClient.connect(new URL(`redis://${a.host}:${a.servers.redis.port}`), 5000, 5000);
    try {
      await c.call('AUTH', 'default', a.servers.redis.password);
      return await c.call(...args);
    } finally {
      c.close();
    }
  };
  const stats = () => u().json<Stats>(APP, '/stats');
  /** The app's add-ons' resource names (database, role and Redis user are all `dm_<id hex>`). */
  let names: Record<'postgresql' | 'redis', string>;
  let appPasswords: string[] = [];

  before(async () => {
    builds = mkdtempSync('/var/tmp/dm-up-addons-');
    chmodSync(builds, 0o711); // build users pass through to their build dir
    up = await Up.start({
      name: 'dm-up-addons',
      // Its own build dir (not /var/lib/dynomesh/builds) and subnets: it shares nothing with other clusters on this host.
      env: { DYNOMESH_BUILD_DIR: builds, DYNOMESH_DYNO_SUBNET: DYNO_SUBNET, DYNOMESH_BUILD_SUBNET: BUILD_SUBNET, DYNOMESH_STOP_TIMEOUT: '5s', DYNOMESH_BUILD_TIMEOUT: '3m' },
    });
    work = join(u().dir, APP);
    cpSync(join(ROOT, 'examples/node-visits'), work, { recursive: true });
    await u().commitAll(work, 'node-visits');
    const created = await u().cliIn(work, 'apps:create', APP);
    assert.equal(created.code, 0, created.stderr);
    const push = await u().git(work, ['push', 'dynomesh', 'main']);
    assert.equal(push.code, 0, `git push: ${push.stderr}`);
  }, { timeout: 240_000 });

  after(async () => {
    await up?.stop();
    up?.remove();
    if (builds) rmSync(builds, { recursive: true, force: true });
  }, { timeout: 150_000 });

  test('up starts them, says where, and control offers both services', { timeout: 30_000 }, async () => {
    const a = admin();
    assert.equal(statSync(join(u().home, 'addons', 'admin.json')).mode & 0o777, 0o600);
    assert.equal(a.host, isolated ? hostAddress() : '127.0.0.1', 'where dynos reach them');
    assert.match(u().output, new RegExp(`Add-ons +postgresql ${a.host}:${a.servers.postgresql.port}, redis ${a.host}:${a.servers.redis.port}`));
    const services = await u().ok('addons:services');
    assert.match(services.stdout, /^postgresql\s.*DATABASE_URL$/m);
    assert.match(services.stdout, /^redis\s.*REDIS_URL$/m);
    // The firewall opens to what control advertises: exactly these two.
    const etcd = u().etcd();
    const members = (await etcd.list(etcd.keys.members()).finally(() => etcd.close())).entries;
    assert.deepEqual(members.flatMap((m) => (m.value as { addonServers?: string[] }).addonServers ?? []).sort(),
      [`${a.host}:${a.servers.postgresql.port}`, `${a.host}:${a.servers.redis.port}`].sort());
    if (root) {
      // Neither runs as root: PostgreSQL refuses to, and dynos reach both over the network.
      const uid = Number(readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('dynomesh-addons:'))?.split(':')[2]);
      for (const port of [a.servers.postgresql.port, a.servers.redis.port]) assert.equal(listenerUid(port), uid, `the server on ${port} runs as dynomesh-addons`);
    }
  });

  test('the pushed example counts visits through DATABASE_URL and REDIS_URL', { timeout: 120_000 }, async () => {
    const bare = await eventually(stats, 30_000, 'node-visits answers');
    assert.deepEqual([bare.postgresql, bare.redis], [null, null], 'no add-on yet');
    assert.match((await u().get(APP, '/')).body, /^No database yet[^]*dynomesh addons:create postgresql/);
    for (const service of ['postgresql', 'redis']) {
      const r = await u().cliIn(work, 'addons:create', service);
      assert.equal(r.code, 0, `addons:create ${service}: ${r.stderr}`);
    }
    // The dynos restart on the release that attached both.
    await eventually(async () => {
      const s = await stats();
      return s.postgresql === 0 && s.redis === 0;
    }, 60_000, 'a dyno with DATABASE_URL and REDIS_URL');
    for (const n of [1, 2]) {
      const page = await u().get(APP, '/');
      assert.equal(page.status, 200, page.body);
      assert.match(page.body, new RegExp(`^Visit #${n}, counted in PostgreSQL`));
      assert.match(page.body, new RegExp(`Redis counted ${n} `));
    }
    const list = JSON.parse((await u().ok('addons', '-a', APP, '--json')).stdout) as { id: string; addon_service: { name: string } }[];
    const id = (s: string) => list.find((x) => x.addon_service.name === s)!.id;
    names = { postgresql: resourceName(id('postgresql')), redis: resourceName(id('redis')) };
    // Really there: two rows in the app's own database, the counter under the app's key prefix.
    const rows = await pgAdmin(names.postgresql, (c) => c.query('SELECT count(*)::int AS n FROM visits'));
    assert.equal(rows.rows[0].n, 2);
    assert.equal(String(await redisAdmin('GET', `${names.redis}:visits`)), '2');
    const config = JSON.parse((await u().ok('config', '-a', APP, '--json')).stdout) as Record<string, string>;
    appPasswords = [config.DATABASE_URL!, config.REDIS_URL!].map((x) => decodeURIComponent(new URL(x).password));
    assert.equal(new URL(config.DATABASE_URL!).host, `${admin().host}:${admin().servers.postgresql.port}`);
  });

  test('from a dyno the PostgreSQL superuser is refused before any password is asked (pg_hba: this host only)', {
    timeout: 90_000, skip: isolated ? false : 'without isolation dynos are on the host itself',
  }, async () => {
    const probe = `const pg = require('pg'); const u = new URL(process.env.DATABASE_URL);
      const c = new pg.Client({ host: u.hostname, port: u.port, user: 'admin', password: 'not-the-password', database: 'postgres' });
      c.connect().then(() => console.log('CONNECTED'), (e) => console.log('REFUSED ' + e.message));`;
    const r = await u().cliIn(work, 'run', '--', 'node', '-e', probe);
    assert.match(r.stdout, /REFUSED .*pg_hba\.conf rejects connection for host "10\.244\.[\d.]+", user "admin"/, `${r.stdout}${r.stderr}`);
  });

  test('`dynomesh down` then `up` keeps the rows, the Redis key and the Redis user', { timeout: 180_000 }, async () => {
    const down = await u().cli('down');
    assert.equal(down.code, 0, down.stderr);
    assert.equal(await u().stop(), 0, 'up exited 0 after `down`');
    assert.equal(listenerUid(admin().servers.postgresql.port), undefined, 'PostgreSQL stopped with the cluster');
    const before = admin();
    await u().restart();
    assert.deepEqual(admin(), before, 'same address, ports and passwords');
    // The dyno starts again with the same release; its Redis user still authenticates (ACL file).
    const s = await eventually(async () => {
      const x = await stats().catch(() => undefined);
      return x?.postgresql === 2 && x.redis === 2 ? x : undefined;
    }, 90_000, 'node-visits answers with its counts after the restart');
    assert.equal(s.postgresql, 2);
    assert.match((await u().get(APP, '/')).body, /^Visit #3,[^]*Redis counted 3 /);
  });

  test('apps:destroy removes the database, its role and the Redis user with its keys', { timeout: 60_000 }, async () => {
    const r = await u().cli('apps:destroy', APP, '--confirm', APP);
    assert.equal(r.code, 0, r.stderr);
    const left = await pgAdmin('postgres', async (c) => ({
      dbs: (await c.query('SELECT datname FROM pg_database WHERE datname = $1', [names.postgresql])).rowCount,
      roles: (await c.query('SELECT rolname FROM pg_roles WHERE rolname = $1', [names.postgresql])).rowCount,
    }));
    assert.deepEqual(left, { dbs: 0, roles: 0 });
    const users = ((await redisAdmin('ACL', 'USERS')) as Buffer[]).map(String);
    assert.ok(!users.includes(names.redis), `redis users: ${users.join(', ')}`);
    assert.equal(await redisAdmin('EXISTS', `${names.redis}:visits`), 0);
    // Saved: a restarted Redis would not bring the user back.
    assert.ok(!readFileSync(join(u().home, 'addons', 'redis', 'users.acl'), 'utf8').includes(names.redis));
  });

  test('no admin or add-on password is in a log or in what up printed', () => {
    const a = admin();
    const secrets = [a.servers.postgresql.password, a.servers.redis.password, ...appPasswords];
    assert.equal(secrets.length, 4);
    const logs = join(u().home, 'logs');
    const texts = [u().output, ...readdirSync(logs).map((f) => readFileSync(join(logs, f), 'utf8'))];
    for (const s of secrets) assert.ok(!texts.some((t) => t.includes(s)), 'a password is in a log');
    assert.ok(existsSync(join(logs, 'postgresql.log')) && existsSync(join(logs, 'redis.log')));
  });

  test('`up --no-addons` starts neither, and control offers no add-on service', { timeout: 180_000 }, async () => {
    const { postgresql, redis } = admin().servers;
    assert.equal((await u().cli('down')).code, 0);
    await u().stop();
    await u().restart(['--no-addons']);
    assert.match(u().output, /Add-ons +none \(--no-addons\)/);
    assert.deepEqual([listenerUid(postgresql.port), listenerUid(redis.port)], [undefined, undefined]);
    assert.deepEqual(JSON.parse((await u().ok('addons:services', '--json')).stdout), []);
  });
});

/** The uid of the process listening on `port` (from /proc/net/tcp and the sockets' owners), or undefined. */
function listenerUid(port: number): number | undefined {
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const c = line.trim().split(/\s+/);
    if (c[3] === '0A' && parseInt(c[1]!.split(':')[1]!, 16) === port) return Number(c[7]);
  }
  return undefined;
}
