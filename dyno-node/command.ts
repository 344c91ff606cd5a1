/**
 * `dynomesh dyno-node`: run the agent. Flags fall back to DYNOMESH_* env vars;
 * defaults are Heroku's (60 s boot, 30 s stop, 20/40/60/180/320 min cool-offs).
 */
import { homedir, hostname, totalmem } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { addClusterOptions, clusterOptionsFrom, type ClusterFlags } from '../cluster/config.ts';
import { isHostname } from '../cluster/keys.ts';
import { loadNodeCredential, type NodeCredentialFile } from '../cluster/node-credential.ts';
import { logger } from '../lib/log.ts';
import { ensureStateDir } from '../lib/state-dir.ts';
import { parseAllowList, parseDuration, parseHostPort, parsePositiveInt, parseSize } from '../lib/options.ts';
import type { AllowRule } from '../container/firewall.ts';
import type { IsolationMode } from '../container/isolation.ts';
import type { MemoryMode } from './memory.ts';

interface Flags extends ClusterFlags {
  nodeId: string;
  advertise: string;
  dataDir: string;
  memory: number;
  nodeCredential?: string;
  leaseTtl: number;
  bootTimeout: number;
  stopTimeout: number;
  drain: number;
  coolOff: number[];
  goodRun: number;
  memoryEnforcement: MemoryMode;
  memoryPoll: number;
  label: Record<string, string>;
  attachListen?: { host: string; port: number };
  attach: boolean;
  attachTimeout: number;
  cycle: number;
  cycleJitter: number;
  isolation: IsolationMode;
  dynoAllow: AllowRule[];
  dynoSubnet: string;
  dynoDisk: number;
}

function parseSubnet(v: string): string {
  if (!/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-4])$/.test(v)) throw new InvalidArgumentError(`"${v}" is not an IPv4 subnet from /16 to /24 (e.g. 10.231.0.0/16).`);
  return v;
}

function parseNodeId(v: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/.test(v)) throw new InvalidArgumentError(`"${v}" is not a node id (letters, digits, . _ : -).`);
  return v;
}

function parseAddress(v: string): string {
  if (!isHostname(v.toLowerCase()) && !/^[0-9a-fA-F:.]+$/.test(v)) throw new InvalidArgumentError(`"${v}" is not an IP address or hostname.`);
  return v;
}

function parseDurations(v: string): number[] {
  const list = v.split(',').map((s) => parseDuration(s.trim()));
  if (list.some((ms) => ms <= 0)) throw new InvalidArgumentError(`"${v}": cool-offs must be positive durations (e.g. 20m,40m,60m).`);
  return list;
}

function parseLabel(v: string, prev: Record<string, string>): Record<string, string> {
  const m = /^([A-Za-z0-9_.-]+)=(.*)$/.exec(v);
  if (!m) throw new InvalidArgumentError(`"${v}" is not a label; write key=value.`);
  return { ...prev, [m[1]!]: m[2]! };
}

/** As root, dyno users must traverse the data dir, and /root is 0700: use /var/lib instead. */
function defaultDataDir(): string {
  return process.getuid?.() === 0 ? '/var/lib/dynomesh/node' : `${homedir()}/.dynomesh/node`;
}

export function dynoNodeCommand(): Command {
  const cmd = new Command('dyno-node').description('run the dyno agent on this host: registers it and runs the dynos the scheduler places here');
  addClusterOptions(cmd);
  cmd
    .addOption(new Option('--node-id <id>', 'this host\'s id in the cluster').env('DYNOMESH_NODE_ID').default(hostname()).argParser(parseNodeId))
    .addOption(new Option('--advertise <addr>', 'address routers reach this host\'s dynos on').env('DYNOMESH_ADVERTISE').default('127.0.0.1').argParser(parseAddress))
    .addOption(new Option('--data-dir <dir>', 'slug cache, dyno directories and run state').env('DYNOMESH_NODE_DIR').default(defaultDataDir()))
    .addOption(new Option('--memory <mb>', 'memory offered to dynos (MB)').env('DYNOMESH_NODE_MEMORY').default(Math.floor(totalmem() / 1048576)).argParser(parsePositiveInt))
    .addOption(new Option('--node-credential <file>', 'this node\'s credential, mode 0600 (`dynomesh nodes:enroll <id> --out FILE` on a control host)').env('DYNOMESH_NODE_CREDENTIAL').default(undefined, '<data-dir>/node.credential'))
    .addOption(new Option('--lease-ttl <seconds>', 'node lease TTL: a dead host\'s endpoints vanish after this').env('DYNOMESH_LEASE_TTL').default(10).argParser(parsePositiveInt))
    .addOption(new Option('--boot-timeout <duration>', 'time a web dyno has to accept on $PORT (R10)').env('DYNOMESH_BOOT_TIMEOUT').default(60_000, '60s').argParser(parseDuration))
    .addOption(new Option('--stop-timeout <duration>', 'SIGTERM to SIGKILL grace (R12)').env('DYNOMESH_STOP_TIMEOUT').default(30_000, '30s').argParser(parseDuration))
    .addOption(new Option('--drain <duration>', 'pause between removing an endpoint and SIGTERM').env('DYNOMESH_DRAIN').default(1000, '1s').argParser(parseDuration))
    .addOption(new Option('--cool-off <list>', 'crash restart cool-offs after the first (immediate) restart').env('DYNOMESH_COOL_OFF').default(undefined, '20m,40m,60m,180m,320m').argParser(parseDurations))
    .addOption(new Option('--good-run <duration>', 'uptime that resets the crash count').env('DYNOMESH_GOOD_RUN').default(600_000, '10m').argParser(parseDuration))
    .addOption(new Option('--memory-enforcement <mode>', 'cgroup, rss polling, or auto (cgroup when writable)').env('DYNOMESH_MEMORY_ENFORCEMENT').choices(['auto', 'cgroup', 'rss']).default('auto'))
    .addOption(new Option('--memory-poll <duration>', 'how often dyno memory is checked').default(1000, '1s').argParser(parseDuration))
    .addOption(new Option('--attach-listen <host:port>', 'where one-off dynos attach (default: the advertise address, a free port)').env('DYNOMESH_ATTACH_LISTEN').argParser(parseHostPort))
    .addOption(new Option('--no-attach', 'serve no attach endpoint (attached one-off dynos fail with R13)'))
    .addOption(new Option('--attach-timeout <duration>', 'how long an attached one-off waits for its requester (R13)').default(60_000, '60s').argParser(parseDuration))
    .addOption(new Option('--cycle <duration>', 'replace each dyno after this long, as Heroku\'s daily cycling (0: never)').env('DYNOMESH_CYCLE').default(24 * 3_600_000, '24h').argParser(parseDuration))
    .addOption(new Option('--cycle-jitter <duration>', 'random extra time before a dyno cycles').default(216 * 60_000, '216m').argParser(parseDuration))
    .addOption(new Option('--isolation <mode>', 'each dyno in its own OCI container and network: auto (when root), runc, crun, or off').env('DYNOMESH_ISOLATION').choices(['auto', 'runc', 'crun', 'off']).default('auto'))
    .addOption(new Option('--dyno-allow <cidr[:port]>', 'a private destination dynos may reach (repeatable or comma-separated; add-on servers are allowed automatically)').env('DYNOMESH_DYNO_ALLOW').argParser(parseAllowList).default([]))
    .addOption(new Option('--dyno-subnet <cidr>', 'addresses of the dyno containers on this host\'s bridge').env('DYNOMESH_DYNO_SUBNET').default('10.231.0.0/16').argParser(parseSubnet))
    .addOption(new Option('--dyno-disk <size>', 'writable disk of each isolated dyno (/app, the slug included); writes past it get ENOSPC').env('DYNOMESH_DYNO_DISK').default(2 * 1024 ** 3, '2g').argParser(parseSize))
    .addOption(new Option('--label <key=value>', 'node label for the scheduler (repeatable)').argParser(parseLabel).default({}))
    .action(async (flags: Flags) => {
      try {
        // Root unpacks slugs and runs dynos in it: ours, not writable by others, under directories only root (or we) own.
        // First: the credential lives in it by default, and a dir others can write lets them swap it.
        ensureStateDir(flags.dataDir, 'data dir', '--data-dir', 0o711);
      } catch (err) {
        process.stderr.write(`dynomesh dyno-node: ${(err as Error).message}\n`);
        process.exit(2);
      }
      // Its own credential, never the cluster key: a stolen host opens only the dynos placed on it.
      let credential: NodeCredentialFile;
      try {
        credential = loadNodeCredential(flags.nodeCredential ?? `${flags.dataDir}/node.credential`);
        if (cmd.getOptionValueSource('nodeId') === 'default') flags.nodeId = credential.node;
        if (credential.node !== flags.nodeId) throw new Error(`the node credential is for node ${credential.node}, not ${flags.nodeId}; run with --node-id ${credential.node} or enrol ${flags.nodeId}`);
      } catch (err) {
        process.stderr.write(`dynomesh dyno-node: ${(err as Error).message}\n`);
        process.exit(2);
      }
      const log = logger('dyno-node', { node: flags.nodeId });
      // A loopback advertise address on a multi-host cluster makes this host's dynos unreachable from every router.
      const loopback = (h: string) => /^(127\.|localhost$|::1$)/.test(h);
      if (loopback(flags.advertise) && (flags.etcd ?? []).some((u) => !loopback(new URL(u).hostname.replace(/^\[|\]$/g, '')))) {
        log.warn({ advertise: flags.advertise, hint: 'routers on other hosts cannot reach these dynos; set --advertise (DYNOMESH_ADVERTISE) to this host\'s address' }, 'dyno-node-advertises-loopback');
      }
      // Loaded only now: every other command of the binary starts without the agent and the etcd client.
      const [{ Cluster }, { LogShipper }, { dynoSink }, { Agent }] = await Promise.all([
        import('../cluster/client.ts'), import('../logplex/shipper.ts'), import('../logplex/sinks.ts'), import('./agent.ts'),
      ]);
      const cluster = new Cluster(clusterOptionsFrom(flags));
      // Dyno output and lifecycle lines go to each app's log stream (control/logs), as producer node:<id>.
      const shipper = LogShipper.forCluster(cluster, logger('dyno-node', { node: flags.nodeId, component: 'logplex' }), { credential: { id: `node:${flags.nodeId}`, secret: credential.log } });
      const agent = new Agent({
        cluster, credential, nodeId: flags.nodeId, advertise: flags.advertise, dataDir: flags.dataDir, memoryMb: flags.memory,
        labels: flags.label, leaseTtlSeconds: flags.leaseTtl, bootTimeoutMs: flags.bootTimeout, stopTimeoutMs: flags.stopTimeout,
        drainMs: flags.drain, ...(flags.coolOff ? { coolOffsMs: flags.coolOff } : {}), goodRunMs: flags.goodRun,
        memoryMode: flags.memoryEnforcement, memoryPollMs: flags.memoryPoll, log, sink: dynoSink(shipper),
        attachListen: flags.attach ? flags.attachListen : false, attachTimeoutMs: flags.attachTimeout,
        cycleMs: flags.cycle, cycleJitterMs: flags.cycleJitter,
        isolation: { mode: flags.isolation, subnet: flags.dynoSubnet, allow: flags.dynoAllow, diskBytes: flags.dynoDisk },
      });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'dyno-node-stopping');
        // SIGTERM/SIGINT stop the dynos and leave; SIGUSR2 leaves them running for the next agent (upgrade).
        void agent.shutdown({ stopDynos: signal !== 'SIGUSR2' }).finally(async () => {
          await shipper.close(2000); // the dynos' last lines ("Process exited ...")
          cluster.close();
          process.exit(0);
        });
      };
      for (const sig of ['SIGTERM', 'SIGINT', 'SIGUSR2'] as const) process.on(sig, () => stop(sig));
      await agent.start();
    });
  return cmd;
}
