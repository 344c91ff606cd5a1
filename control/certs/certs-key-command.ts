/**
 * `dynomesh certs-key`: writes the certificates key (cluster/certs-key.ts), derived
 * from the cluster key, on a host that holds it (a control host). Routers that
 * serve HTTPS get this file and never the cluster key.
 *
 *   dynomesh certs-key --out /etc/dynomesh/certs.key
 */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { loadClusterKey } from '../../cluster/sealed.ts';
import { deriveCertsKey, writeCertsKey } from '../../cluster/certs-key.ts';

const home = (p: string) => (p.startsWith('~/') ? homedir() + p.slice(1) : p);

export function certsKeyCommand(): Command {
  return new Command('certs-key')
    .description('write the key routers open TLS certificates\' private keys with (derived from the cluster key)')
    .addOption(new Option('--cluster-key <file>', 'cluster key file').env('DYNOMESH_CLUSTER_KEY').default('~/.dynomesh/cluster.key'))
    .requiredOption('--out <file>', 'write it to this file (mode 0600); give it to routers as --certs-key')
    .action((flags: { clusterKey: string; out: string }) => {
      try {
        writeCertsKey(resolve(home(flags.out)), deriveCertsKey(loadClusterKey(resolve(home(flags.clusterKey)))));
      } catch (err) {
        process.stderr.write(`dynomesh certs-key: ${(err as Error).message}\n`);
        process.exit(1);
      }
    });
}
