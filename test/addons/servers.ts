/**
 * Real PostgreSQL and Redis servers for the add-on tests, from the Debian
 * packages (scripts/install-deps.sh --addons), on loopback and temp dirs.
 * PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
 * Password auth is on for TCP (scram-sha-256), so add-on credentials really matter.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../lib/ports.ts';
import { RespClient } from '../../control/addons/resp.ts';

const PG_BIN = (() => {
  try {
    return execFileSync('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1'], { encoding: 'utf8' }).trim() || '';
  } catch {
    return '';
  }
})();

const asRoot = process.getuid?.() === 0;

function owned(dir: string): void {
  if (!asRoot) return;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
  chownSync(dir, uid, gid);
}

function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

/** Resolves when `fn` succeeds, retrying for up to `ms`. */
async function until(fn: () => Promise<unknown>, ms: number, what: string, proc: ChildProcess, out: () => string): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${what} exited ${proc.exitCode}: ${out()}`);
    try {
      await fn();
      return;
    } catch (err) {
      if (Date.now() > end) throw new Error(`${what} not ready after ${ms} ms: ${(err as Error).message}\n${out()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function stopGroup(p: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch { /* gone */ }
    }, 10_000);
    p.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    try {
      process.kill(-p.pid!, signal);
    } catch {
      resolve();
    }
  });
}

export interface TestPostgres {
  port: number;
  /** Superuser URL (`admin`), what control's --addon-postgresql gets. */
  adminUrl: string;
  /** Runs SQL as the superuser on `db` (default `postgres`). */
  query(sql: string, params?: unknown[], db?: string): Promise<pg.QueryResult>;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** `host`: where it listens (dyno containers reach the host's own address, not its loopback). */
export async function startPostgres(host = '127.0.0.1'): Promise<TestPostgres> {
  if (!PG_BIN) throw new Error('PostgreSQL is not installed: run scripts/install-deps.sh --addons (Debian package postgresql)');
  const dir = mkdtempSync(join(tmpdir(), 'dm-addons-pg-'));
  owned(dir);
  const data = join(dir, 'data');
  const pwfile = join(dir, 'pw');
  const password = 'admin-secret';
  writeFileSync(pwfile, password + '\n');
  owned(pwfile);
  const [c, a] = asPostgres(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'admin', `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  execFileSync(c, a, { stdio: 'pipe' });
  // initdb lets only loopback clients in over TCP; a server on another address takes password logins there too.
  if (host !== '127.0.0.1') appendFileSync(join(data, 'pg_hba.conf'), `host all all ${host}/32 scram-sha-256\nhost all all 0.0.0.0/0 scram-sha-256\n`);
  const port = await freePort();
  let proc: ChildProcess | undefined;
  let out = '';
  const adminUrl = `postgres://admin:${password}@${host}:${port}/postgres`;
  const self: TestPostgres = {
    port,
    adminUrl,
    async query(sql, params = [], db = 'postgres') {
      const client = new pg.Client({ connectionString: adminUrl.replace(/\/postgres$/, `/${db}`) });
      await client.connect();
      try {
        return await client.query(sql, params);
      } finally {
        await client.end();
      }
    },
    async start() {
      out = '';
      const [cmd, args] = asPostgres(join(PG_BIN, 'postgres'), ['-D', data, '-k', dir, '-p', String(port), '-h', host, '-c', 'fsync=off', '-c', 'max_connections=50']);
      const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      proc = p;
      p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      p.stderr!.on('data', (b: Buffer) => (out += b.toString()));
      await until(() => self.query('SELECT 1'), 30_000, 'postgres', p, () => out);
    },
    /** Fast shutdown (SIGINT): what "the provider's server is down" looks like. */
    stop: () => stopGroup(proc, 'SIGINT'),
    async destroy() {
      await self.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await self.start();
  return self;
}

export interface TestRedis {
  port: number;
  adminUrl: string;
  /** A command as the admin (default) user. */
  call(...args: (string | number)[]): Promise<unknown>;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** `host`: where it listens (see startPostgres). */
export async function startRedis(host = '127.0.0.1'): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'dm-addons-redis-'));
  const password = 'redis-admin-secret';
  // With an aclfile, ACL SAVE persists the add-on users across restarts (tested).
  writeFileSync(join(dir, 'users.acl'), `user default on >${password} ~* &* +@all\n`);
  const port = await freePort();
  const adminUrl = `redis://default:${password}@${host}:${port}`;
  let proc: ChildProcess | undefined;
  let out = '';
  const self: TestRedis = {
    port,
    adminUrl,
    async call(...args) {
      const c = await RespClient.connect(new URL(adminUrl), 2000);
      try {
        await c.call('AUTH', 'default', password);
        return await c.call(...args);
      } finally {
        c.close();
      }
    },
    async start() {
      out = '';
      const p = spawn('redis-server', ['--port', String(port), '--bind', host, '--save', '', '--appendonly', 'no', '--dir', dir, '--aclfile', join(dir, 'users.acl')], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      proc = p;
      p.on('error', (err) => (out += `${err.message} (install redis-server: scripts/install-deps.sh --addons)`));
      p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      p.stderr!.on('data', (b: Buffer) => (out += b.toString()));
      await until(() => self.call('PING'), 20_000, 'redis-server', p, () => out);
    },
    stop: () => stopGroup(proc, 'SIGTERM'),
    async destroy() {
      await self.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await self.start();
  return self;
}
