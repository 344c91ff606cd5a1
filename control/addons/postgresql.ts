/**
 * The `postgresql` provider: one database and one login role per add-on on a
 * PostgreSQL server (13 or newer) that control reaches with an admin URL
 * (`--addon-postgresql postgres://admin:pw@db-host:5432/postgres`; a superuser,
 * or a role with CREATEDB and CREATEROLE that may create databases owned by the
 * roles it creates).
 *
 *   role      dm_<id hex>  LOGIN, password from credentialPassword(), nothing else
 *             (no superuser, createdb, createrole, replication), connection limit by plan;
 *             INHERIT, since PostgreSQL 15 gives a database's owner the public schema
 *             through the implicit pg_database_owner role
 *   database  dm_<id hex>  owned by the role; CONNECT/TEMP revoked from PUBLIC, so no
 *             other add-on's role can connect to it
 *
 * Uses the `pg` npm package (8.16). One short-lived admin connection per call.
 */
import pg from 'pg';
import { credentialPassword, isNetworkError, ProviderError, resourceName, unreachable, type AddonProvider, type Provisioned, type ProvisionRequest } from './provider.ts';

/** Plan → connection limit of the add-on's role. */
const PLANS: Record<string, number> = { mini: 20, basic: 60, standard: 200 };

export class PostgresProvider implements AddonProvider {
  readonly service = 'postgresql';
  readonly plans = Object.keys(PLANS);
  readonly defaultPlan = 'mini';
  readonly configVarsPrefix = 'DATABASE';
  private readonly admin: URL;

  constructor(
    adminUrl: string,
    private readonly secret: Buffer,
    private readonly opts: { connectTimeoutMs?: number } = {},
  ) {
    this.admin = parseAdminUrl(adminUrl);
  }

  describe(): string {
    return this.admin.host;
  }

  async provision(req: ProvisionRequest): Promise<Provisioned> {
    const limit = PLANS[req.plan];
    if (limit === undefined) throw new ProviderError(`postgresql has no plan "${req.plan}"; plans: ${this.plans.join(', ')}`);
    const unknown = Object.keys(req.options);
    if (unknown.length) throw new ProviderError(`postgresql takes no options (got ${unknown.join(', ')})`);
    const name = resourceName(req.id);
    const password = credentialPassword(this.secret, this.service, req.id);
    const role = pg.escapeIdentifier(name);
    await this.withAdmin(async (c) => {
      const attrs = `LOGIN PASSWORD ${pg.escapeLiteral(password)} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION CONNECTION LIMIT ${limit}`;
      // Concurrent retries of one id take turns (catalog updates of one role would collide).
      await c.query('SELECT pg_advisory_lock(hashtext($1))', [name]);
      // A retry finds the role of the first attempt: same name, same password, no second role.
      const roleExists = (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount;
      if (roleExists) await c.query(`ALTER ROLE ${role} ${attrs}`);
      else await ignoring(c.query(`CREATE ROLE ${role} ${attrs}`), '42710', () => c.query(`ALTER ROLE ${role} ${attrs}`));
      const dbExists = (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount;
      if (!dbExists) await ignoring(c.query(`CREATE DATABASE ${role} OWNER ${role}`), '42P04');
      // Every role may connect to a new database by default: only its owner may here.
      await c.query(`REVOKE ALL ON DATABASE ${role} FROM PUBLIC`);
      await c.query(`COMMENT ON DATABASE ${role} IS ${pg.escapeLiteral(`dynomesh add-on ${req.id} of app ${req.app}`)}`);
    });
    const url = new URL(`postgres://${this.admin.host}/`);
    url.username = name;
    url.password = password;
    url.pathname = `/${name}`;
    return { config: { DATABASE_URL: url.toString() }, message: `Database has been created and is available (${PLANS[req.plan]} connections)` };
  }

  async deprovision(id: string): Promise<void> {
    const name = resourceName(id);
    const ident = pg.escapeIdentifier(name);
    await this.withAdmin(async (c) => {
      // FORCE ends the app's open connections (the app's dynos may still be running).
      await c.query(`DROP DATABASE IF EXISTS ${ident} WITH (FORCE)`);
      await c.query(`DROP ROLE IF EXISTS ${ident}`);
    });
  }

  async changePlan(id: string, plan: string): Promise<void> {
    const limit = PLANS[plan];
    if (limit === undefined) throw new ProviderError(`postgresql has no plan "${plan}"; plans: ${this.plans.join(', ')}`);
    await this.withAdmin((c) => c.query(`ALTER ROLE ${pg.escapeIdentifier(resourceName(id))} CONNECTION LIMIT ${limit}`));
  }

  private async withAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = new pg.Client({
      connectionString: this.admin.toString(),
      connectionTimeoutMillis: this.opts.connectTimeoutMs ?? 5000,
      query_timeout: 60_000,
      application_name: 'dynomesh-control',
    });
    c.on('error', () => undefined); // a server that goes away mid-call fails the query, not the process
    try {
      await c.connect();
    } catch (err) {
      throw this.explain(err);
    }
    try {
      return await fn(c);
    } catch (err) {
      throw this.explain(err);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  private explain(err: unknown): Error {
    if (err instanceof ProviderError) return err;
    if (isNetworkError(err)) return unreachable(this.service, this.describe(), err);
    const e = err as Error & { code?: string };
    if (e.code === '28P01' || e.code === '28000') {
      return new ProviderError(`the postgresql add-on server at ${this.describe()} refused control's admin credentials; the operator must fix --addon-postgresql`, true);
    }
    if (e.code === '42501') return new ProviderError(`the admin role in --addon-postgresql may not create databases and roles (${e.message}); nothing was created`);
    return new ProviderError(`postgresql add-on server at ${this.describe()}: ${e.message}`);
  }
}

/** The admin URL must name a host; `postgresql://` and `postgres://` both work. */
export function parseAdminUrl(v: string): URL {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ProviderError(`"${v.replace(/\/\/[^@/]*@/, '//***@')}" is not a PostgreSQL URL (example: postgres://admin:secret@127.0.0.1:5432/postgres)`);
  }
  if ((u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') || !u.hostname) {
    throw new ProviderError(`the postgresql admin URL must look like postgres://admin:secret@host:5432/postgres`);
  }
  if (!u.port) u.port = '5432';
  return u;
}

/** Awaits `p`; when it fails with SQLSTATE `code` (a concurrent retry got there first) runs `then` instead. */
async function ignoring(p: Promise<unknown>, code: string, then?: () => Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if ((err as { code?: string }).code !== code) throw err;
    await then?.();
  }
}
