/**
 * `dynomesh control`: flags (with environment fallbacks) → one ControlPlane.
 * Prints the admin token once, on the start that creates it; SIGINT/SIGTERM
 * resign leadership (a follower takes over at once) and exit 0.
 */
import { ensureStateDir } from '../lib/state-dir.ts';
import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { addClusterOptions, clusterOptionsFrom, type ClusterFlags } from '../cluster/config.ts';
import type { AllowRule } from '../container/firewall.ts';
import type { IsolationMode } from '../container/isolation.ts';
import { parseAllowList, parseDuration, parseHostPort, parsePort, parsePositiveNumber } from '../lib/options.ts';
import { acmOptionsFrom, addAcmOptions, type AcmFlags } from './certs/acm-options.ts';

interface ControlFlags extends ClusterFlags, AcmFlags {
  apiDomain?: string;
  listen: { host: string; port: number };
  advertiseUrl?: string;
  dataDir: string;
  clusterKey: string;
  baseDomain: string;
  routerPort: number;
  id: string;
  leaseTtl: number;
  adminTokenFile?: string;
  buildTimeout: number;
  releasePhaseTimeout: number;
  maxSlugSize: number;
  buildDir?: string;
  logsListen?: { host: string; port: number };
  logsAdvertise?: string;
  addonPostgresql?: string;
  addonRedis?: string;
  isolation: IsolationMode;
  buildAllow: AllowRule[];
  outboundAllow: AllowRule[];
  buildpackDir?: string;
  buildSubnet: string;
}

const home = (p: string) => (p.startsWith('~/') ? join(homedir(), p.slice(2)) : p);

function parseTtl(v: string): number {
  const ms = /^\d+$/.test(v.trim()) ? Number(v) * 1000 : parseDuration(v);
  const s = Math.round(ms / 1000);
  if (s < 2 || s > 300) throw new InvalidArgumentError(`"${v}" is not a usable lease TTL; use 2s to 300s (e.g. 5s).`);
  return s;
}

function parseBaseDomain(v: string): string {
  const d = v.trim().toLowerCase();
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(d)) {
    throw new InvalidArgumentError(`"${v}" is not a domain name (example: apps.example.com).`);
  }
  return d;
}

function parseUrl(v: string): string {
  try {
    const u = new URL(v);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    return v.replace(/\/$/, '');
  } catch {
    throw new InvalidArgumentError(`"${v}" is not an http(s) URL (example: http://10.0.0.5:5050).`);
  }
}

export function controlCommand(): Command {
  const cmd = new Command('control')
    .description('run a control-plane instance: Platform API, slug store, releases; the elected leader schedules dynos')
    .addOption(new Option('--listen <host:port>', 'API listen address').env('DYNOMESH_CONTROL_LISTEN').default(parseHostPort('127.0.0.1:5050'), '127.0.0.1:5050').argParser(parseHostPort))
    .addOption(new Option('--advertise-url <url>', 'API URL other hosts use to reach this instance (default: from --listen)').env('DYNOMESH_ADVERTISE_URL').argParser(parseUrl))
    .addOption(new Option('--data-dir <dir>', 'where slugs (and repos, build caches) are kept').env('DYNOMESH_DATA_DIR').default('~/.dynomesh/control'))
    .addOption(new Option('--cluster-key <file>', 'cluster key file (created on first start); dyno-nodes need a copy').env('DYNOMESH_CLUSTER_KEY').default('~/.dynomesh/cluster.key'))
    .addOption(new Option('--base-domain <domain>', 'apps answer at <app>.<base-domain> on the routers').env('DYNOMESH_BASE_DOMAIN').default('localhost').argParser(parseBaseDomain))
    .addOption(new Option('--api-domain <host>', 'also serve the Platform API and git through the routers at this name (https://<host> with the routers\' TLS), e.g. api.example.com').env('DYNOMESH_API_DOMAIN').argParser(parseBaseDomain))
    .addOption(new Option('--router-port <port>', 'port the routers serve HTTP on, shown in web_url').env('DYNOMESH_ROUTER_PORT').default(80).argParser(parsePort))
    .addOption(new Option('--id <id>', 'member id of this instance (letters, digits, . _ : -)').env('DYNOMESH_CONTROL_ID').default(`${hostname().replace(/[^A-Za-z0-9._:-]/g, '-')}-${randomBytes(3).toString('hex')}`, '<hostname>-<random>'))
    .addOption(new Option('--lease-ttl <seconds>', 'membership/leadership lease TTL; a dead leader is replaced within about this long (default 3 s, so a new leader is scheduling within 5 s)').env('DYNOMESH_LEASE_TTL').default(3).argParser(parseTtl))
    .addOption(new Option('--build-timeout <duration>', 'time limit of one git push build (buildpack compile), e.g. 15m').env('DYNOMESH_BUILD_TIMEOUT').default(15 * 60_000, '15m').argParser(parseDuration))
    .addOption(new Option('--release-phase-timeout <duration>', 'time limit of a release command (the `release:` process type); past it the command is stopped and its release fails, e.g. 1h').env('DYNOMESH_RELEASE_PHASE_TIMEOUT').default(60 * 60_000, '1h').argParser(parseDuration))
    .addOption(new Option('--max-slug-size <MB>', 'largest compressed slug a build may produce, in MB').env('DYNOMESH_MAX_SLUG_SIZE').default(500).argParser(parsePositiveNumber))
    .addOption(new Option('--build-dir <dir>', 'where builds run and build caches persist (default: <data-dir>/build; as root /var/lib/dynomesh/builds)').env('DYNOMESH_BUILD_DIR'))
    .addOption(new Option('--isolation <mode>', 'each build step in its own OCI container and network: auto (when root), runc, crun, or off').env('DYNOMESH_ISOLATION').choices(['auto', 'runc', 'crun', 'off']).default('auto'))
    .addOption(new Option('--build-allow <cidr[:port]>', 'a private destination builds may reach, e.g. an internal package mirror (repeatable or comma-separated)').env('DYNOMESH_BUILD_ALLOW').argParser(parseAllowList).default([]))
    .addOption(new Option('--outbound-allow <cidr[:port]>', 'a private destination tenants\' drains, source_blob URLs and buildpack URLs may reach, e.g. an internal syslog (repeatable or comma-separated)').env('DYNOMESH_OUTBOUND_ALLOW').argParser(parseAllowList).default([]))
    .addOption(new Option('--buildpack-dir <dir>', 'the one directory on this host apps may name buildpacks in (/srv/buildpacks/go, file:///srv/buildpacks/go.git); default: no paths').env('DYNOMESH_BUILDPACK_DIR'))
    .addOption(new Option('--build-subnet <cidr>', 'addresses of the build containers on this host\'s bridge').env('DYNOMESH_BUILD_SUBNET').default('10.232.0.0/16'))
    .addOption(new Option('--logs-listen <host:port>', 'where routers and dyno-nodes send log lines (default: the API host, any free port; found through etcd)').env('DYNOMESH_LOGS_LISTEN').argParser(parseHostPort))
    .addOption(new Option('--logs-advertise <host>', 'host other machines reach the log listener on (default: the --logs-listen host)').env('DYNOMESH_LOGS_ADVERTISE'))
    .addOption(new Option('--addon-postgresql <url>', 'admin URL of the PostgreSQL server `addons:create postgresql` creates databases on (postgres://admin:pw@host:5432/postgres)').env('DYNOMESH_ADDON_POSTGRESQL'))
    .addOption(new Option('--addon-redis <url>', 'admin URL of the Redis (6+) server `addons:create redis` creates ACL users on (redis://default:pw@host:6379)').env('DYNOMESH_ADDON_REDIS'))
    .addOption(new Option('--admin-token-file <file>', 'also write the admin token created on first start to this file (0600)').env('DYNOMESH_ADMIN_TOKEN_FILE'));
  addAcmOptions(cmd);
  addClusterOptions(cmd);
  cmd.action(async (flags: ControlFlags) => {
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/.test(flags.id)) {
      process.stderr.write(`dynomesh control: --id "${flags.id}" may only hold letters, digits and . _ : -\n`);
      process.exit(2);
    }
    let dataDir: string;
    try {
      // Root works in it: ours, not writable by others, under directories only root (or we) own.
      dataDir = ensureStateDir(home(flags.dataDir), 'data dir', '--data-dir');
    } catch (err) {
      process.stderr.write(`dynomesh control: ${(err as Error).message}\n`);
      process.exit(2);
    }
    const acme = acmOptionsFrom(flags, dataDir);
    if (typeof acme === 'string') {
      process.stderr.write(`dynomesh control: ${acme}\n`);
      process.exit(2);
    }
    // Loaded only now, so the binary's other commands start without the control plane's modules.
    const { ControlPlane } = await import('./control.ts');
    const control = new ControlPlane({
      cluster: clusterOptionsFrom(flags),
      ...(acme ? { acme } : {}),
      ...(flags.apiDomain ? { apiDomain: flags.apiDomain } : {}),
      listen: flags.listen,
      ...(flags.advertiseUrl ? { advertiseUrl: flags.advertiseUrl } : {}),
      dataDir,
      clusterKeyPath: resolve(home(flags.clusterKey)),
      baseDomain: flags.baseDomain,
      routerPort: flags.routerPort,
      id: flags.id,
      leaseTtlSeconds: flags.leaseTtl,
      releasePhaseTimeoutMs: flags.releasePhaseTimeout,
      builds: {
        timeoutMs: flags.buildTimeout, maxSlugBytes: Math.round(flags.maxSlugSize * 1024 * 1024), ...(flags.buildDir ? { buildDir: resolve(home(flags.buildDir)) } : {}),
        isolation: { mode: flags.isolation, subnet: flags.buildSubnet, allow: flags.buildAllow },
      },
      ...(process.env.DYNOMESH_BOOTSTRAP_TOKEN ? { bootstrapToken: process.env.DYNOMESH_BOOTSTRAP_TOKEN } : {}),
      ...(flags.adminTokenFile ? { adminTokenFile: resolve(home(flags.adminTokenFile)) } : {}),
      ...(flags.logsListen ? { logsListen: flags.logsListen } : {}),
      ...(flags.logsAdvertise ? { logsAdvertiseHost: flags.logsAdvertise } : {}),
      ...(flags.buildpackDir ? { buildpackDir: resolve(home(flags.buildpackDir)) } : {}),
      egress: { allow: flags.outboundAllow.map((r) => ({ cidr: r.cidr, ...(r.port ? { port: r.port } : {}) })) },
      addons: { ...(flags.addonPostgresql ? { postgresql: flags.addonPostgresql } : {}), ...(flags.addonRedis ? { redis: flags.addonRedis } : {}) },
    });
    let started;
    try {
      started = await control.start();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const msg = e.code === 'EADDRINUSE' ? `${flags.listen.host}:${flags.listen.port} is already in use; pick another --listen` : e.message;
      process.stderr.write(`dynomesh control: ${msg}\n`);
      await control.stop().catch(() => undefined);
      process.exit(1);
    }
    process.stdout.write(`dynomesh control ${flags.id} serving the Platform API at ${control.url}\n`);
    if (started.adminToken) {
      process.stdout.write(`Admin API token (shown once; store it now): ${started.adminToken}\n`);
    }
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      control.log.info({ signal }, 'control-stopping');
      const force = setTimeout(() => process.exit(1), 10_000);
      force.unref();
      void control.stop().then(() => process.exit(0), () => process.exit(1));
    };
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
  });
  return cmd;
}
