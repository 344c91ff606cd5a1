/**
 * `dynomesh log-credential <kind:name>`: issues a log producer credential
 * (logplex/credential.ts) from the cluster key, on a host that holds it (a
 * control host). Routers get theirs this way and never hold the cluster key.
 *
 *   dynomesh log-credential router:r1 --out /etc/dynomesh/log-credential
 */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { loadClusterKey } from '../cluster/sealed.ts';
import { deriveCredential, formatCredential, isProducerId, writeCredential } from '../logplex/credential.ts';

const home = (p: string) => (p.startsWith('~/') ? homedir() + p.slice(1) : p);

export function logCredentialCommand(): Command {
  return new Command('log-credential')
    .description('issue a log producer credential (router:<name>, node:<node id>, control:<id>) from the cluster key')
    .argument('<id>', 'the producer: router:<name>, node:<node id> or control:<id>')
    .addOption(new Option('--cluster-key <file>', 'cluster key file').env('DYNOMESH_CLUSTER_KEY').default('~/.dynomesh/cluster.key'))
    .option('--out <file>', 'write it to this file (mode 0600) instead of stdout')
    .action((id: string, flags: { clusterKey: string; out?: string }) => {
      if (!isProducerId(id)) {
        process.stderr.write(`dynomesh log-credential: "${id}" is not a producer id; write router:<name>, node:<node id> or control:<id>\n`);
        process.exit(2);
      }
      const cred = deriveCredential(loadClusterKey(resolve(home(flags.clusterKey))), id);
      if (flags.out) writeCredential(resolve(home(flags.out)), cred);
      else process.stdout.write(formatCredential(cred));
    });
}
