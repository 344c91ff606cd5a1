/**
 * The `redis` provider: one ACL user per add-on on a Redis server (6 or newer)
 * that control reaches with an admin URL (`--addon-redis redis://default:pw@host:6379`).
 *
 * Why ACL users and not a logical database number each: Redis ACLs cannot
 * restrict SELECT, so any client could read every other add-on's numbered
 * database, and there are only 16 of them by default. A user whose key and
 * channel patterns are `dm_<id hex>:*` sees nothing else, on any database.
 *
 *   user  dm_<id hex>  on, password from credentialPassword(),
 *         ~dm_<id hex>:*  &dm_<id hex>:*  +@all -@admin -@dangerous
 *         (-@admin: no ACL/CONFIG/SHUTDOWN/REPLICAOF...; -@dangerous: no FLUSHALL, FLUSHDB,
 *         KEYS, MIGRATE, MONITOR, INFO, CLIENT KILL... which act on, or reveal, other users' data)
 *
 * Sets REDIS_URL (the user's credentials) and REDIS_KEY_PREFIX (what every key must start
 * with). ACL changes are saved with ACL SAVE when the server runs with an aclfile, so users
 * survive a Redis restart; without one they are lost on restart (logged once).
 */
import { logger } from '../../lib/log.ts';
import { credentialPassword, isNetworkError, ProviderError, resourceName, unreachable, type AddonProvider, type Provisioned, type ProvisionRequest } from './provider.ts';
import { RedisReplyError, RespClient, text, type Reply } from './resp.ts';

const log = logger('addons');

export class RedisProvider implements AddonProvider {
  readonly service = 'redis';
  readonly plans = ['mini'] as const;
  readonly defaultPlan = 'mini';
  readonly configVarsPrefix = 'REDIS';
  private readonly admin: URL;
  private warnedNoAclFile = false;

  constructor(
    adminUrl: string,
    private readonly secret: Buffer,
    private readonly opts: { connectTimeoutMs?: number; replyTimeoutMs?: number } = {},
  ) {
    this.admin = parseRedisUrl(adminUrl);
  }

  describe(): string {
    return this.admin.host;
  }

  async provision(req: ProvisionRequest): Promise<Provisioned> {
    if (!this.plans.includes(req.plan as 'mini')) throw new ProviderError(`redis has no plan "${req.plan}"; plans: ${this.plans.join(', ')}`);
    const unknown = Object.keys(req.options);
    if (unknown.length) throw new ProviderError(`redis takes no options (got ${unknown.join(', ')})`);
    const user = resourceName(req.id);
    const prefix = `${user}:`;
    const password = credentialPassword(this.secret, this.service, req.id);
    await this.withAdmin(async (c) => {
      // `reset` first: a retry (or an old user of the same name) ends up exactly like this.
      await c.call('ACL', 'SETUSER', user, 'reset', 'on', `>${password}`, `~${prefix}*`, 'resetchannels', `&${prefix}*`, '+@all', '-@admin', '-@dangerous');
      await this.save(c);
    });
    const url = new URL(`${this.admin.protocol}//${this.admin.host}`);
    url.username = user;
    url.password = password;
    return { config: { REDIS_URL: url.toString(), REDIS_KEY_PREFIX: prefix }, message: `Keys must start with ${prefix} (REDIS_KEY_PREFIX)` };
  }

  async deprovision(id: string): Promise<void> {
    const user = resourceName(id);
    await this.withAdmin(async (c) => {
      await c.call('ACL', 'DELUSER', user); // also closes the user's connections
      await this.save(c);
      const dbs = Number(text(((await c.call('CONFIG', 'GET', 'databases').catch(() => [])) as Reply[])[1] ?? '16')) || 16;
      for (let db = 0; db < dbs; db++) {
        await c.call('SELECT', db);
        let cursor = '0';
        do {
          const [next, keys] = (await c.call('SCAN', cursor, 'MATCH', `${user}:*`, 'COUNT', 1000)) as [Reply, Reply[]];
          cursor = text(next);
          if (keys.length) await c.call('UNLINK', ...keys.map((k) => k as Buffer));
        } while (cursor !== '0');
      }
    });
  }

  private async save(c: RespClient): Promise<void> {
    try {
      await c.call('ACL', 'SAVE');
    } catch (err) {
      if (!(err instanceof RedisReplyError) || !/ACL file/i.test(err.message)) throw err;
      if (!this.warnedNoAclFile) log.warn({ server: this.describe() }, 'redis-acl-not-persisted');
      this.warnedNoAclFile = true;
    }
  }

  private async withAdmin<T>(fn: (c: RespClient) => Promise<T>): Promise<T> {
    let c: RespClient;
    try {
      c = await RespClient.connect(this.admin, this.opts.connectTimeoutMs ?? 5000, this.opts.replyTimeoutMs ?? 30_000);
    } catch (err) {
      throw unreachable(this.service, this.describe(), err);
    }
    try {
      const user = decodeURIComponent(this.admin.username);
      const pass = decodeURIComponent(this.admin.password);
      if (pass) await c.call('AUTH', ...(user ? [user] : []), pass);
      return await fn(c);
    } catch (err) {
      if (isNetworkError(err)) throw unreachable(this.service, this.describe(), err);
      if (err instanceof RedisReplyError && /WRONGPASS|NOAUTH/.test(err.message)) {
        throw new ProviderError(`the redis add-on server at ${this.describe()} refused control's admin credentials; the operator must fix --addon-redis`, true);
      }
      if (err instanceof RedisReplyError && /NOPERM/.test(err.message)) {
        throw new ProviderError(`the admin user in --addon-redis may not manage ACL users (${err.message}); nothing was created`);
      }
      if (err instanceof RedisReplyError) throw new ProviderError(`redis add-on server at ${this.describe()}: ${err.message}`);
      throw err;
    } finally {
      c.close();
    }
  }
}

export function parseRedisUrl(v: string): URL {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ProviderError(`"${v.replace(/\/\/[^@/]*@/, '//***@')}" is not a Redis URL (example: redis://default:secret@127.0.0.1:6379)`);
  }
  if ((u.protocol !== 'redis:' && u.protocol !== 'rediss:') || !u.hostname) {
    throw new ProviderError('the redis admin URL must look like redis://default:secret@host:6379 (rediss:// for TLS)');
  }
  if (!u.port) u.port = '6379';
  return u;
}
