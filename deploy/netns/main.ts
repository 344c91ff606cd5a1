/**
 * The network-namespace cluster from a shell (root):
 *   node --import tsx deploy/netns/main.ts up        start it, print its addresses, Ctrl-C tears it down
 *   node --import tsx deploy/netns/main.ts cleanup   remove what crashed runs left (namespaces, links, processes)
 */
import { Command } from 'commander';
import { API_PORT, NetnsCluster, ROUTER_PORT } from './cluster.ts';
import { cleanupStale, requireRoot } from './net.ts';

const program = new Command('netns-cluster').description('a dynomesh cluster of network namespaces on this machine (root)');

program
  .command('up')
  .description('start etcd x3, control x2, router x2 and dyno-node x3, each in its own namespace; Ctrl-C stops and removes all')
  .option('--base-domain <domain>', 'apps answer at <app>.<base-domain>', 'dmnet.test')
  .action(async (o: { baseDomain: string }) => {
    const c = new NetnsCluster({ baseDomain: o.baseDomain, logLevel: process.env.DYNOMESH_LOG_LEVEL ?? 'info' });
    try {
      await c.start();
    } catch (err) {
      process.stderr.write(`netns cluster: ${(err as Error).message}\n`);
      process.exit(1);
    }
    const out = [
      `netns cluster ${c.run} is up (logs in ${c.dir}):`,
      ...c.hosts.map((h) => `  ${h.name.padEnd(3)} ${h.role.padEnd(8)} ${h.addr}  (ip netns exec dmnet-${c.run}-${h.name} ...)`),
      `Platform API   ${c.apiUrls.map((u) => u).join('  ')}  (admin token ${c.adminToken})`,
      `etcd           ${c.etcdEndpoints.join(',')}`,
      `routers        ${c.routerAddrs.map((a) => `http://${a}:${ROUTER_PORT}`).join('  ')}  apps at <app>.${c.baseDomain}`,
      `try: DYNOMESH_API_URL=http://${c.host('c1').addr}:${API_PORT} ... ; curl -H 'Host: <app>.${c.baseDomain}' http://${c.routerAddrs[0]}/`,
      'Ctrl-C stops everything.',
    ];
    process.stdout.write(out.join('\n') + '\n');
    await new Promise(() => undefined); // until SIGINT/SIGTERM, which tear the cluster down
  });

program
  .command('cleanup')
  .description('remove namespaces, links and processes left by runs whose owner is gone')
  .action(() => {
    requireRoot();
    const runs = cleanupStale();
    process.stdout.write(runs.length ? `removed stale runs: ${runs.join(' ')}\n` : 'nothing stale\n');
  });

await program.parseAsync();
