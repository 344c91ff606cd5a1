/**
 * `dynomesh router`: the edge router daemon. Flags fall back to environment
 * variables (DYNOMESH_ROUTER_*); bad values stop it at start with one line.
 * SIGTERM/SIGINT: stop accepting, drain in-flight requests, exit 0 (1 if some
 * did not finish within --drain-timeout).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { addClusterOptions, clusterOptionsFrom, type ClusterFlags } from '../cluster/config.ts';
import { logger } from '../lib/log.ts';
import { CredentialError, loadCredential, type ProducerCredential } from '../logplex/credential.ts';
import { parseDuration, parsePort, parsePositiveInt, parsePositiveNumber } from '../lib/options.ts';
import { ROUTER_DEFAULTS } from './defaults.ts';
import type { RouterOptions } from './server.ts';
import { addTlsOptions, keyOpener, tlsOptionsFrom, type TlsFlags } from './tls/options.ts';

interface RouterFlags extends ClusterFlags, TlsFlags {
  host: string;
  port: number;
  adminHost: string;
  adminPort: number;
  baseDomain: string;
  balanceFactor: number;
  firstByteTimeout: number;
  idleTimeout: number;
  connectTimeout: number;
  quarantine: number;
  maxTries: number;
  drainTimeout: number;
  forwardedProto: string;
  forwardedPort?: number;
  accessLog: boolean;
  workers: number;
  maxHeadSize: number;
  logCredential?: string;
}

const d = ROUTER_DEFAULTS;
const ms = (n: number) => `${n / 1000}s`;

function parseFactor(v: string): number {
  const n = parsePositiveNumber(v);
  if (n < 1) throw new InvalidArgumentError(`"${v}" is below 1; the bounded-loads factor c must be >= 1 (1.25 is usual).`);
  return n;
}

function parseBaseDomain(v: string): string {
  const s = v.toLowerCase().replace(/^\.+|\.+$/g, '');
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(s)) {
    throw new InvalidArgumentError(`"${v}" is not a domain name (example: apps.example.com).`);
  }
  return s;
}

/** Bytes, or with a k suffix (16k = 16384). Below 1 KB no browser request fits; above 1 MB uWS would buffer that much per connection. */
function parseHeadSize(v: string): number {
  const m = /^(\d+)(k|kb|kib)?$/i.exec(v.trim());
  const n = m ? Number(m[1]) * (m[2] ? 1024 : 1) : NaN;
  if (!(n >= 1024 && n <= 1024 * 1024)) throw new InvalidArgumentError(`"${v}" is not a head size from 1k to 1024k (example: 16k or 16384).`);
  return n;
}

function parseAdminPort(v: string): number {
  return v === 'off' ? -1 : parsePort(v);
}

export function routerCommand(): Command {
  const cmd = new Command('router')
    .description('run an edge router: routes HTTP and WebSocket requests by Host to the web dynos registered in etcd')
    .addOption(new Option('--host <addr>', 'address to listen on').env('DYNOMESH_ROUTER_HOST').default(d.host))
    .addOption(new Option('--port <port>', 'HTTP port (0 = any free port)').env('DYNOMESH_ROUTER_PORT').default(d.port).argParser(parsePort))
    .addOption(new Option('--admin-host <addr>', 'address of the metrics/health listener').env('DYNOMESH_ROUTER_ADMIN_HOST').default(d.adminHost))
    .addOption(new Option('--admin-port <port>', 'metrics/health port (GET /metrics, /healthz); "off" disables it').env('DYNOMESH_ROUTER_ADMIN_PORT').default(d.adminPort).argParser(parseAdminPort))
    .addOption(new Option('--base-domain <domain>', 'apps answer at <app>.<base-domain> without a domain record').env('DYNOMESH_BASE_DOMAIN').default(d.baseDomain).argParser(parseBaseDomain))
    .addOption(new Option('--balance-factor <c>', 'bounded-loads factor for apps that do not set one').env('DYNOMESH_ROUTER_BALANCE_FACTOR').default(d.defaultBalanceFactor).argParser(parseFactor))
    .addOption(new Option('--first-byte-timeout <duration>', 'request sent -> first response byte, else H12 503').env('DYNOMESH_ROUTER_FIRST_BYTE_TIMEOUT').default(d.firstByteTimeoutMs, ms(d.firstByteTimeoutMs)).argParser(parseDuration))
    .addOption(new Option('--idle-timeout <duration>', 'no byte either way after the first, else H15').env('DYNOMESH_ROUTER_IDLE_TIMEOUT').default(d.idleTimeoutMs, ms(d.idleTimeoutMs)).argParser(parseDuration))
    .addOption(new Option('--connect-timeout <duration>', 'TCP connect to a dyno').env('DYNOMESH_ROUTER_CONNECT_TIMEOUT').default(d.connectTimeoutMs, ms(d.connectTimeoutMs)).argParser(parseDuration))
    .addOption(new Option('--quarantine <duration>', 'how long a dyno that refused a connect is skipped').env('DYNOMESH_ROUTER_QUARANTINE').default(d.quarantineMs, ms(d.quarantineMs)).argParser(parseDuration))
    .addOption(new Option('--max-tries <n>', 'dynos tried per request on connect failures before 503').env('DYNOMESH_ROUTER_MAX_TRIES').default(d.maxTries).argParser(parsePositiveInt))
    .addOption(new Option('--drain-timeout <duration>', 'on SIGTERM, how long in-flight requests may take to finish').env('DYNOMESH_ROUTER_DRAIN_TIMEOUT').default(d.drainTimeoutMs, ms(d.drainTimeoutMs)).argParser(parseDuration))
    .addOption(new Option('--forwarded-proto <proto>', 'X-Forwarded-Proto sent to dynos (https when a TLS load balancer is in front)').env('DYNOMESH_ROUTER_FORWARDED_PROTO').choices(['http', 'https']).default('http'))
    .addOption(new Option('--max-head-size <bytes>', 'largest request head (request line + headers) served, however it is segmented; larger gets 431').env('DYNOMESH_ROUTER_MAX_HEAD_SIZE').default(d.maxHeadSize, '16k').argParser(parseHeadSize))
    .addOption(new Option('--workers <n>', 'worker threads, each serving on the same port (SO_REUSEPORT); 1 = serve on the main thread').env('DYNOMESH_ROUTER_WORKERS').default(1).argParser(parsePositiveInt))
    .addOption(new Option('--no-access-log', 'do not also write each router line to this process\'s own log (they still go to the app\'s log stream)'))
    .addOption(new Option('--log-credential <file>', 'this router\'s log producer credential (issue one with `dynomesh log-credential router:<name>`); without it router lines do not reach app logs').env('DYNOMESH_LOG_CREDENTIAL'))
    .addOption(new Option('--forwarded-port <port>', 'X-Forwarded-Port sent to dynos (default: the port the router listens on; 443 behind a TLS load balancer)').env('DYNOMESH_ROUTER_FORWARDED_PORT').argParser(parsePort));
  addTlsOptions(cmd);
  addClusterOptions(cmd);
  cmd.action(async (flags: RouterFlags) => {
    const log = logger('router');
    for (const [name, v] of [['--first-byte-timeout', flags.firstByteTimeout], ['--idle-timeout', flags.idleTimeout], ['--connect-timeout', flags.connectTimeout]] as const) {
      if (v <= 0) {
        process.stderr.write(`dynomesh router: ${name} must be more than 0 (example: 30s)\n`);
        process.exit(2);
      }
    }
    let credential: ProducerCredential | undefined;
    try {
      credential = flags.logCredential ? loadCredential(flags.logCredential) : undefined;
    } catch (err) {
      process.stderr.write(`dynomesh router: ${(err as CredentialError).message}\n`);
      process.exit(2);
    }
    if (credential && !credential.id.startsWith('router:')) {
      process.stderr.write(`dynomesh router: ${flags.logCredential} is the credential of ${credential.id}, not of a router\n`);
      process.exit(2);
    }
    if (!credential) log.warn({ hint: 'set --log-credential (DYNOMESH_LOG_CREDENTIAL)' }, 'router-lines-not-shipped');
    const tlsOpts = tlsOptionsFrom(flags);
    if (typeof tlsOpts === 'string') {
      process.stderr.write(`dynomesh router: ${tlsOpts}\n`);
      process.exit(2);
    }
    let openKey: ReturnType<typeof keyOpener> | undefined;
    try {
      openKey = tlsOpts.httpsPort !== undefined ? keyOpener(flags.certsKey, log) : undefined;
    } catch (err) {
      process.stderr.write(`dynomesh router: ${(err as Error).message} (--https-port needs --certs-key to open certificates' keys)\n`);
      process.exit(2);
    }
    // Loaded only now: every other command of the binary starts without uWS and the etcd client.
    const [{ Cluster }, { LogShipper }, { routerSink }, { AccessLog, teeSink }, { Router }, { WorkerRouter }, { UwsFallbackError }] = await Promise.all([
      import('../cluster/client.ts'), import('../logplex/shipper.ts'), import('../logplex/sinks.ts'), import('./log-line.ts'),
      import('./server.ts'), import('./workers/pool.ts'), import('./uws.ts'),
    ]);
    const cluster = new Cluster({ ...clusterOptionsFrom(flags), callTimeoutMs: 3000 });
    // Router lines go to each app's log stream (control/logs), never blocking a request.
    const shipper = credential ? LogShipper.forCluster(cluster, logger('router', { component: 'logplex' }), { credential }) : undefined;
    const routerOpts: RouterOptions = {
      host: flags.host,
      port: flags.port,
      adminHost: flags.adminHost,
      adminPort: flags.adminPort,
      baseDomain: flags.baseDomain,
      defaultBalanceFactor: flags.balanceFactor,
      firstByteTimeoutMs: flags.firstByteTimeout,
      idleTimeoutMs: flags.idleTimeout,
      connectTimeoutMs: flags.connectTimeout,
      quarantineMs: flags.quarantine,
      maxTries: flags.maxTries,
      drainTimeoutMs: flags.drainTimeout,
      proto: flags.forwardedProto,
      forwardedPort: flags.forwardedPort,
      maxHeadSize: flags.maxHeadSize,
      ...tlsOpts,
    };
    const sinks = [...(flags.accessLog ? [new AccessLog(log)] : []), ...(shipper ? [routerSink(shipper)] : [])];
    const sink = teeSink(sinks);
    // One thread serves best on one core; with more cores, workers serve and this thread keeps etcd, admin and logs.
    const router = flags.workers > 1 ? new WorkerRouter(cluster, routerOpts, flags.workers, log, sink, openKey) : new Router(cluster, routerOpts, log, sink, openKey);
    try {
      await router.start();
    } catch (err) {
      const msg = err instanceof UwsFallbackError || err instanceof Error ? err.message : String(err);
      process.stderr.write(`dynomesh router: ${msg}\n`);
      await shipper?.close(0);
      cluster.close();
      process.exit(err instanceof UwsFallbackError ? 3 : 1);
    }
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'router-signal');
      const { unfinished } = await router.stop();
      await shipper?.close(2000);
      cluster.close();
      process.exit(unfinished > 0 ? 1 : 0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });
  return cmd;
}
