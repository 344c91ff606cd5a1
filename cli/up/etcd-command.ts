/**
 * `dynomesh etcd` (hidden): the single-member etcd of `dynomesh up`, run as a
 * child daemon like the others so `up` can stop it last, after the daemons that
 * need it have left cleanly.
 */
import { Command, Option } from 'commander';
import { EtcdServer } from '../../cluster/etcd-server.ts';
import { parsePort } from '../../lib/options.ts';

export function etcdCommand(): Command {
  return new Command('etcd')
    .description('run a single-member etcd for a one-host cluster (used by `dynomesh up`)')
    .addOption(new Option('--data-dir <dir>', 'etcd data directory').makeOptionMandatory())
    .addOption(new Option('--client-port <port>', 'client port on 127.0.0.1').argParser(parsePort).makeOptionMandatory())
    .addOption(new Option('--peer-port <port>', 'peer port on 127.0.0.1').argParser(parsePort).makeOptionMandatory())
    .addOption(new Option('--pki <dir>', 'serve TLS and take only client certificates of this directory\'s CA (cluster/pki.ts)'))
    .action(async (flags: { dataDir: string; clientPort: number; peerPort: number; pki?: string }) => {
      const server = new EtcdServer({ dataDir: flags.dataDir, clientPort: flags.clientPort, peerPort: flags.peerPort, ...(flags.pki ? { pkiDir: flags.pki } : {}) });
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        void server.stop().finally(() => process.exit(0));
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      try {
        await server.start();
      } catch (err) {
        process.stderr.write(`dynomesh etcd: ${(err as Error).message}\n`);
        await server.stop('SIGKILL');
        process.exit(1);
      }
      process.stdout.write(`etcd serving at ${server.endpoint} (data: ${flags.dataDir}, log: ${flags.dataDir}/etcd.log)\n`);
    });
}
