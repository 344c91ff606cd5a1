/**
 * `dynomesh up`'s own add-on servers: a PostgreSQL and a Redis under
 * `<home>/addons`, started before control (which gets their admin URLs as
 * DYNOMESH_ADDON_POSTGRESQL / DYNOMESH_ADDON_REDIS) and stopped after the
 * dyno-node, as etcd is. An operator's own DYNOMESH_ADDON_* wins over ours, and
 * `--no-addons` starts neither.
 *
 * Where they listen: with tenant isolation on, dynos run in containers whose
 * 127.0.0.1 is their own, so on the host's address (that of its default route);
 * control advertises host:port in its member record and dyno-nodes open their
 * firewall to exactly that. Without isolation dynos share the host: 127.0.0.1.
 * The address and ports are kept in `<home>/addons/admin.json` (0600, with the
 * admin passwords) because apps' DATABASE_URL and REDIS_URL name them.
 */
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../lib/ports.ts';
import { hostAddress, isLocalAddress } from '../../lib/host-address.ts';
import { CliError } from '../errors.ts';
import { ServerView } from './addon-process.ts';
import { SERVICES, type AddonService, type ServiceName } from './addon-services.ts';
import type { Child } from './child.ts';

export interface AddonServersOptions {
  home: string;
  /** False with `--no-addons`. */
  enabled: boolean;
  /** Starts a `dynomesh <args>` child daemon of `up` (logs, stop order, reaping). */
  spawn: (name: string, args: string[]) => Child;
  /** One line for the person who ran `up`. */
  notice: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Whether dynos run in containers (root, and isolation not turned off). */
  isolated?: boolean;
}

interface AdminFile {
  host: string;
  servers: Partial<Record<ServiceName, { port: number; password: string }>>;
}

/** What `up` tells about each service: ours at host:port, the operator's, or off and why. */
export interface AddonStatus {
  service: ServiceName;
  where: string;
}

/** Which services `up` runs itself: not with --no-addons, not when the operator named a server. */
export function servicesToRun(enabled: boolean, env: NodeJS.ProcessEnv): AddonService[] {
  return enabled ? SERVICES.filter((s) => !env[s.env]) : [];
}

/** As the daemons decide: root, and isolation not turned off. */
const isolatedByDefault = (env: NodeJS.ProcessEnv) => process.getuid?.() === 0 && env.DYNOMESH_ISOLATION !== 'off';

export class AddonServers {
  readonly status: AddonStatus[] = [];
  private readonly dir: string;

  constructor(private readonly o: AddonServersOptions) {
    this.dir = join(o.home, 'addons');
  }

  /** Starts ours, waits until each answers; returns the environment control needs. */
  async start(): Promise<Record<string, string>> {
    const env = this.o.env ?? process.env;
    for (const s of SERVICES) if (env[s.env]) this.status.push({ service: s.name, where: `${hostOf(env[s.env]!)} (the operator's ${s.env})` });
    if (!this.o.enabled) return {};
    const wanted = servicesToRun(true, env).filter((s) => {
      const why = s.missing();
      if (why) {
        this.status.push({ service: s.name, where: `off: ${why}` });
        this.o.notice(`${s.name} add-on off: ${why}; \`dynomesh up --no-addons\` skips add-ons without this line`);
      }
      return !why;
    });
    if (!wanted.length) return {};

    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const admin = await this.adminFile(wanted);
    const out: Record<string, string> = {};
    const user = await ServerView.user(); // once: two useradds at once would race
    await Promise.all(wanted.map(async (s) => {
      const { port, password } = admin.servers[s.name]!;
      const dir = join(this.dir, s.name);
      const view = ServerView.for(dir, user);
      if (!s.initialized(dir)) {
        if (!existsSync(dir)) {
          mkdirSync(dir, { mode: 0o700 });
          if (view.owner) chownSync(dir, view.owner.uid, view.owner.gid);
        }
        await s.initialize(view, password).catch((err: Error) => {
          throw new CliError(`cannot initialize the ${s.name} add-on server in ${dir}: ${err.message}; \`dynomesh up --no-addons\` runs without add-ons`);
        });
      }
      await portFree(s, admin.host, port);
      const child = this.o.spawn(s.name, ['addon-server', s.name, '--dir', dir, '--host', admin.host, '--port', String(port)]);
      const url = s.adminUrl(admin.host, port, password);
      await waitReady(s, child, url, join(this.o.home, 'logs', `${s.name}.log`));
      out[s.env] = url;
      this.status.push({ service: s.name, where: `${admin.host}:${port}` });
    }));
    this.status.sort((x, y) => x.service.localeCompare(y.service));
    return out;
  }

  /** The address they listen on; the one kept from an earlier start while it is still this host's (apps' URLs name it). */
  private listenAddress(stored: string | undefined): string {
    if (!(this.o.isolated ?? isolatedByDefault(this.o.env ?? process.env))) return '127.0.0.1';
    if (stored && stored !== '127.0.0.1' && isLocalAddress(stored)) return stored;
    const found = hostAddress();
    if (!found) this.o.notice('add-on servers listen on 127.0.0.1: this host has no other IPv4 address, so dynos in containers cannot reach them');
    return found ?? '127.0.0.1';
  }

  /** Loads (or makes) the address, ports and admin passwords; every service in `wanted` gets its entry. */
  private async adminFile(wanted: AddonService[]): Promise<AdminFile> {
    const path = join(this.dir, 'admin.json');
    let admin: AdminFile | undefined;
    if (existsSync(path)) {
      try {
        admin = JSON.parse(readFileSync(path, 'utf8')) as AdminFile;
      } catch (err) {
        throw new CliError(`${path} is not readable JSON (${(err as Error).message}); it holds the add-on servers' admin passwords: restore it, or remove ${this.dir} to start them afresh`);
      }
    }
    const next: AdminFile = { host: this.listenAddress(admin?.host), servers: { ...admin?.servers } };
    if (admin && admin.host !== next.host) {
      this.o.notice(`add-on servers move from ${admin.host} to ${next.host}; the DATABASE_URL and REDIS_URL of add-ons created before name ${admin.host}: recreate those add-ons`);
    }
    for (const s of wanted) {
      if (next.servers[s.name]) continue;
      if (existsSync(join(this.dir, s.name)) && s.initialized(join(this.dir, s.name))) {
        throw new CliError(`${path} has no admin password for the ${s.name} in ${join(this.dir, s.name)}; restore the file, or remove that directory to start it afresh (its data goes)`);
      }
      next.servers[s.name] = { port: await freePort(next.host), password: randomBytes(24).toString('base64url') };
    }
    writeFileSync(path, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
    return next;
  }
}

/** The port is kept across starts (apps' URLs name it), so a taken one is said plainly rather than as the server's last words. */
async function portFree(s: AddonService, host: string, port: number): Promise<void> {
  const { createServer } = await import('node:net');
  await new Promise<void>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => reject(new CliError(err.code === 'EADDRINUSE'
      ? `${host}:${port}, the ${s.name} add-on server's port (apps' ${s.name === 'redis' ? 'REDIS_URL' : 'DATABASE_URL'} name it), is in use; stop what holds it, or start with --no-addons`
      : `the ${s.name} add-on server cannot listen on ${host}:${port} (${err.code}); start with --no-addons to skip it`)));
    srv.listen(port, host, () => srv.close(() => resolve()));
  });
}

async function waitReady(s: AddonService, child: Child, url: string, log: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = '';
  for (;;) {
    if (!child.running) {
      throw new CliError(`${s.name} add-on server exited during start${child.lastLine ? ` (${child.lastLine.trim()})` : ''}; see ${log}, or start with --no-addons`);
    }
    try {
      await s.ping(url);
      return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new CliError(`${s.name} add-on server did not answer within 60s (${last}); see ${log}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** host:port of an operator's admin URL, never its credentials. */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'an unparsable URL';
  }
}
