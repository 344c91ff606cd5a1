/**
 * The two add-on servers `dynomesh up` runs, one entry each: how its directory is
 * made on the first start, how the server runs, its admin URL (what control gets
 * as DYNOMESH_ADDON_*) and how `up` knows it is ready.
 *
 *   <home>/addons/postgresql/data   initdb's cluster; superuser `admin`, password auth (SCRAM)
 *   <home>/addons/redis/users.acl   ACL users (the `default` admin; add-on users, saved by ACL SAVE)
 *   <home>/addons/redis/appendonlydir, dump.rdb   the data (AOF, fsync every second)
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { RespClient } from '../../control/addons/resp.ts';
import { INSTALL_HINT, postgresBinDir, redisServerBinary, type ServerView } from './addon-process.ts';

export type ServiceName = 'postgresql' | 'redis';

export interface AddonService {
  name: ServiceName;
  /** The control option it feeds (and an operator's own, which wins). */
  env: 'DYNOMESH_ADDON_POSTGRESQL' | 'DYNOMESH_ADDON_REDIS';
  /** Why it cannot run on this host (its binaries are missing), or undefined. */
  missing(): string | undefined;
  /** Whether its directory holds an initialized server. */
  initialized(dir: string): boolean;
  /** First start: makes the data, with `password` for the admin. Runs in the view, as the server's user. */
  initialize(view: ServerView, password: string): Promise<void>;
  /** The server in the foreground, listening on host:port only. */
  argv(root: string, host: string, port: number): string[];
  /** SIGINT is PostgreSQL's fast shutdown (clients are cut, a checkpoint is written); Redis saves on SIGTERM. */
  stopSignal: NodeJS.Signals;
  adminUrl(host: string, port: number, password: string): string;
  /** Resolves when the server answers an authenticated request. */
  ping(adminUrl: string): Promise<void>;
}

/**
 * Who may log in from where: the superuser (control) only from this host; add-on roles
 * from this host and the networks it is on (its dyno bridge: containers connect from
 * their bridge address). Written by initdb's run, as the server's user.
 */
const PG_HBA = `# dynomesh up: the superuser from this host only; add-on roles from the networks this host is on (dynos)
host all admin samehost scram-sha-256
host all admin all reject
host all all samenet scram-sha-256
`;

/** One script as the server's user: a half-made cluster of an interrupted first start is remade. */
const PG_INIT = `set -e
cd "$1"
umask 077
rm -rf data.init
cat > initpw
"$2" -D data.init -U admin --pwfile=initpw --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-instructions >/dev/null
rm -f initpw
printf '%s' "$3" > data.init/pg_hba.conf
mv data.init data
`;

export const postgresql: AddonService = {
  name: 'postgresql',
  env: 'DYNOMESH_ADDON_POSTGRESQL',
  missing: () => (postgresBinDir() ? undefined : `PostgreSQL is not installed (no initdb); ${INSTALL_HINT}`),
  initialized: (dir) => existsSync(join(dir, 'data', 'PG_VERSION')),
  async initialize(view, password) {
    await view.run(['sh', '-c', PG_INIT, 'pg-init', view.root, join(postgresBinDir()!, 'initdb'), PG_HBA], `${password}\n`);
  },
  argv: (root, host, port) => [
    join(postgresBinDir()!, 'postgres'), '-D', join(root, 'data'), '-p', String(port),
    '-c', `listen_addresses=${host}`,
    '-c', 'unix_socket_directories=', // TCP only: nobody on this host gets in by the socket's peer credentials
    '-c', 'log_min_error_statement=panic', // a failed CREATE ROLE ... PASSWORD must not write the password to the log
  ],
  stopSignal: 'SIGINT',
  adminUrl: (host, port, password) => `postgres://admin:${encodeURIComponent(password)}@${host}:${port}/postgres`,
  async ping(adminUrl) {
    const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.query('SELECT 1');
    } finally {
      await c.end().catch(() => undefined);
    }
  },
};

export const redis: AddonService = {
  name: 'redis',
  env: 'DYNOMESH_ADDON_REDIS',
  missing: () => (redisServerBinary() ? undefined : `Redis is not installed (no redis-server); ${INSTALL_HINT}`),
  initialized: (dir) => existsSync(join(dir, 'users.acl')),
  async initialize(view, password) {
    // The admin is Redis's `default` user; the file holds its password's SHA-256 only.
    const acl = `user default on #${createHash('sha256').update(password).digest('hex')} ~* &* +@all\n`;
    await view.run(['sh', '-c', 'set -e; cd "$1"; umask 077; cat > users.acl.new; mv users.acl.new users.acl', 'redis-init', view.root], acl);
  },
  argv: (root, host, port) => [
    redisServerBinary()!, '--bind', host, '--port', String(port), '--dir', root, '--aclfile', join(root, 'users.acl'),
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--daemonize', 'no',
  ],
  stopSignal: 'SIGTERM',
  adminUrl: (host, port, password) => `redis://default:${encodeURIComponent(password)}@${host}:${port}`,
  async ping(adminUrl) {
    const u = new URL(adminUrl);
    const c = await RespClient.connect(u, 2000, 2000);
    try {
      await c.call('AUTH', 'default', decodeURIComponent(u.password));
      await c.call('PING');
    } finally {
      c.close();
    }
  },
};

export const SERVICES: readonly AddonService[] = [postgresql, redis];

export function service(name: string): AddonService {
  const s = SERVICES.find((x) => x.name === name);
  if (!s) throw new Error(`unknown add-on server "${name}" (postgresql or redis)`);
  return s;
}
