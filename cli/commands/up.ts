/**
 * `dynomesh up`: a whole cluster on this host in the foreground (etcd, control,
 * a dyno-node, a router on :5000), the CLI logged in to it, and the commands to
 * deploy an example. Ctrl-C stops it all; state lives under ~/.dynomesh, so the
 * next `up` has the same apps, releases and config. `dynomesh down` stops an
 * `up` running elsewhere (e.g. the one `npm run up` started in the background).
 */
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { parsePort, parseUrlList } from '../../lib/options.ts';
import { PACKAGE_ROOT } from '../../lib/package.ts';
import { ApiClient } from '../api.ts';
import { configPath, readConfig, writeConfig } from '../config.ts';
import { CliError } from '../errors.ts';
import { addonServerCommand } from '../up/addon-server-command.ts';
import { BIN } from '../up/child.ts';
import { formatLine } from '../up/format.ts';
import type { LocalCluster } from '../up/local-cluster.ts';
import { clearPid, isDynomesh, readState, reapLeftovers } from '../up/state.ts';

interface UpFlags {
  home: string;
  port: number;
  host: string;
  apiPort: number;
  baseDomain: string;
  etcd?: string[];
  etcdPrefix: string;
  quiet?: boolean;
  /** False with --no-addons. */
  addons: boolean;
}

const expand = (p: string) => resolve(p.startsWith('~/') ? join(homedir(), p.slice(2)) : p);

/** Logs the CLI in: keeps a working token, else the new admin token, else mints one through etcd. */
async function loginCli(cluster: LocalCluster, flags: UpFlags): Promise<'new-admin' | 'kept' | 'minted'> {
  const cfg = readConfig();
  if (cluster.adminToken) {
    writeConfig({ ...cfg, apiUrl: cluster.apiUrl, token: cluster.adminToken, user: 'admin' });
    return 'new-admin';
  }
  if (cfg.token && cfg.apiUrl === cluster.apiUrl) {
    const ok = await new ApiClient(cluster.apiUrl, cfg.token).get('/account').then(() => true, () => false);
    if (ok) return 'kept';
  }
  // The admin token was shown on an earlier start and the CLI config lost it: this
  // host runs the etcd, so it may issue the operator a new admin token itself.
  const [{ Cluster }, { createToken }] = await Promise.all([import('../../cluster/client.ts'), import('../../control/tokens.ts')]);
  const etcd = new Cluster(cluster.clusterOptions(flags.etcdPrefix));
  try {
    const { token } = await createToken(etcd, { name: `dynomesh up on ${new Date().toISOString()}`, user: 'admin', admin: true });
    writeConfig({ ...cfg, apiUrl: cluster.apiUrl, token, user: 'admin' });
    return 'minted';
  } finally {
    etcd.close();
  }
}

function onPath(): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, 'dynomesh')));
}

/** What `up` tells once about tenant isolation (the daemons decide the same way: root and not turned off). */
function isolationLine(): string {
  if (process.env.DYNOMESH_ISOLATION === 'off') return 'OFF (DYNOMESH_ISOLATION=off): dynos and builds share this host; run only code you trust';
  if (process.getuid?.() !== 0) return 'OFF (not root): dynos and builds run as your user on this host; run `up` as root to put each in its own container';
  return 'each dyno and build in its own container (runc) on its own network (see dyno-node/README.md)';
}

/** `postgresql 10.0.0.5:41003, redis 10.0.0.5:41007` (where dynos reach them), or why there are none. */
function addonsLine(c: LocalCluster): string {
  const s = c.addons?.status ?? [];
  if (!s.length) return 'none (--no-addons); `dynomesh addons:create` has nothing to offer';
  return s.map((x) => `${x.service} ${x.where}`).join(', ') + '  (`dynomesh addons:create postgresql`)';
}

function banner(c: LocalCluster, login: string, flags: UpFlags): string {
  const cli = onPath() ? 'dynomesh' : BIN;
  const example = join(PACKAGE_ROOT, 'examples', 'node-hello');
  const lines = [
    '',
    'dynomesh is up.',
    `  Platform API  ${c.apiUrl}`,
    `  Dashboard     ${c.apiUrl}/dashboard/  (log in with an API token: \`${cli} auth:token\` prints the CLI's)`,
    `  Router        http://127.0.0.1:${flags.port}  (apps answer at http://<app>.${flags.baseDomain}:${flags.port})`,
    `  HTTPS         https://127.0.0.1:${c.httpsPort}  (https://<app>.${flags.baseDomain}:${c.httpsPort}; certificates from the development CA ${join(flags.home, 'tls', 'ca.crt')}: trust it, e.g. curl --cacert)`,
    c.adminToken
      ? `  Admin token   ${c.adminToken}  (shown once; the CLI is logged in with it: ${configPath()})`
      : `  CLI           ${login === 'kept' ? 'logged in' : 'logged in with a new admin token'} (${configPath()})`,
    `  Logs          ${join(flags.home, 'logs')}/`,
    `  Isolation     ${isolationLine()}`,
    `  Add-ons       ${addonsLine(c)}`,
    '',
    'Deploy an example from another terminal:',
    `  cp -r ${example} ~/hello && cd ~/hello && git init -q -b main && git add . && git commit -qm 'first deploy'`,
    `  ${cli} apps:create hello`,
    '  git push dynomesh main',
    `Then open http://hello.${flags.baseDomain}:${flags.port}/ or https://hello.${flags.baseDomain}:${c.httpsPort}/`,
    ...(onPath() ? [] : ['', `(dynomesh is not on your PATH: \`export PATH="${resolve(BIN, '..')}:$PATH"\` puts it there)`]),
    '',
    'Ctrl-C stops everything; apps, releases and config are kept for the next `dynomesh up`.',
    '',
  ];
  return lines.join('\n');
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run a complete one-host cluster in the foreground: etcd, control, a dyno-node and a router on :5000')
    .addOption(new Option('--home <dir>', 'where the cluster keeps its state (etcd data, slugs, cluster key, logs)').env('DYNOMESH_HOME').default(expand('~/.dynomesh'), '~/.dynomesh').argParser(expand))
    .addOption(new Option('-p, --port <port>', 'router HTTP port').env('DYNOMESH_ROUTER_PORT').default(5000).argParser(parsePort))
    .addOption(new Option('--host <addr>', 'router listen address (0.0.0.0 to serve other machines)').default('127.0.0.1'))
    .addOption(new Option('--api-port <port>', 'Platform API port on 127.0.0.1').env('DYNOMESH_API_PORT').default(5050).argParser(parsePort))
    .addOption(new Option('--base-domain <domain>', 'apps answer at <app>.<base-domain>').env('DYNOMESH_BASE_DOMAIN').default('localhost'))
    .addOption(new Option('--etcd <urls>', 'use this etcd instead of starting one').env('DYNOMESH_ETCD').argParser(parseUrlList))
    .addOption(new Option('--etcd-prefix <prefix>', 'key prefix in etcd').env('DYNOMESH_PREFIX').default('/dynomesh/'))
    .option('-q, --quiet', 'do not echo the daemons\' log lines (they still go to <home>/logs)')
    .option('--no-addons', 'do not run a PostgreSQL and a Redis for `addons:create` (DYNOMESH_ADDON_POSTGRESQL/REDIS name servers of your own)')
    .action(async (flags: UpFlags) => {
      mkdirSync(flags.home, { recursive: true, mode: 0o700 });
      const prev = readState(flags.home);
      if (prev.pid && prev.pid !== process.pid && isDynomesh(prev.pid)) {
        throw new CliError(`dynomesh up is already running (pid ${prev.pid}, API ${prev.apiUrl ?? '?'}); stop it with \`dynomesh down\` or Ctrl-C in its terminal`);
      }
      const left = await reapLeftovers(prev);
      if (left.length) process.stderr.write(`Stopped daemons left by an earlier dynomesh up: ${left.join(', ')}\n`);

      // Loaded only now, so the binary's other commands start without etcd's client and the daemons' set-up.
      const { LocalCluster } = await import('../up/local-cluster.ts');
      let shuttingDown = false;
      let exitCode = 0;
      const cluster: LocalCluster = new LocalCluster({
        home: flags.home,
        ...(flags.etcd ? { etcd: flags.etcd.join(',') } : {}),
        prefix: flags.etcdPrefix,
        apiPort: flags.apiPort,
        routerPort: flags.port,
        routerHost: flags.host,
        baseDomain: flags.baseDomain,
        addons: flags.addons,
        onNotice: (line) => process.stderr.write(`${line}\n`),
        onLine: (name, line) => {
          if (!flags.quiet) process.stdout.write(formatLine(name, line) + '\n');
        },
        onCrash: (name, code, signal) => {
          process.stderr.write(`\n${name} exited (${signal ?? `code ${code}`}); stopping the cluster. See ${join(flags.home, 'logs', `${name}.log`)}\n`);
          exitCode = 1;
          void shutdown();
        },
      });

      const shutdown = async () => {
        if (shuttingDown) {
          process.stderr.write('Stopping now (SIGKILL).\n');
          cluster.kill();
          clearPid(flags.home);
          process.exit(1);
        }
        shuttingDown = true;
        if (cluster.children.length) {
          process.stderr.write('\nStopping dynomesh (router, control, dyno-node, add-on servers, etcd)... press Ctrl-C again to kill at once\n');
          await cluster.stop();
          process.stderr.write('dynomesh stopped.\n');
        }
        clearPid(flags.home);
        process.exit(exitCode);
      };
      process.on('SIGINT', () => void shutdown());
      process.on('SIGTERM', () => void shutdown());
      process.on('SIGHUP', () => void shutdown());

      try {
        await cluster.start();
      } catch (err) {
        exitCode = 1;
        process.stderr.write(` ▸    ${(err as Error).message}\n`);
        if (!shuttingDown) await shutdown(); // else a daemon's exit already started it
        return;
      }
      const login = await loginCli(cluster, flags);
      process.stdout.write(banner(cluster, login, flags) + '\n');
    });

  // `up`'s own PostgreSQL and Redis run as its child daemons, like its etcd.
  program.addCommand(addonServerCommand(), { hidden: true });

  program
    .command('down')
    .description('stop the `dynomesh up` running on this host')
    .addOption(new Option('--home <dir>', 'the --home of that `dynomesh up`').env('DYNOMESH_HOME').default(expand('~/.dynomesh'), '~/.dynomesh').argParser(expand))
    .action(async (flags: { home: string }) => {
      const s = readState(flags.home);
      if (!s.pid || !isDynomesh(s.pid)) {
        const left = await reapLeftovers(s);
        clearPid(flags.home);
        process.stderr.write(left.length ? `Stopped leftover daemons: ${left.join(', ')}\n` : 'dynomesh up is not running.\n');
        return;
      }
      process.kill(s.pid, 'SIGTERM');
      process.stderr.write(`Stopping dynomesh up (pid ${s.pid})... `);
      const deadline = Date.now() + 120_000;
      while (isDynomesh(s.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      if (isDynomesh(s.pid)) throw new CliError(`dynomesh up (pid ${s.pid}) is still running after 120s; kill it with \`kill -9 ${s.pid}\``);
      process.stderr.write('done\n');
    });
}
