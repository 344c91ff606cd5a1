/**
 * `dynomesh addon-server postgresql|redis` (hidden): one add-on server of
 * `dynomesh up` in the foreground, run as a child daemon like `dynomesh etcd`, so
 * `up` stops it after the daemons that use it and it stops itself when `up` dies.
 * The directory must have been initialized by `up` (cli/up/addons.ts).
 */
import { spawn } from 'node:child_process';
import { Command, Option } from 'commander';
import { parsePort } from '../../lib/options.ts';
import { SERVER_ENV, ServerView } from './addon-process.ts';

interface Flags {
  dir: string;
  host: string;
  port: number;
}

export function addonServerCommand(): Command {
  return new Command('addon-server')
    .description('run the PostgreSQL or Redis of a one-host cluster (used by `dynomesh up`)')
    .argument('<service>', 'postgresql or redis')
    .addOption(new Option('--dir <dir>', 'its directory, initialized by `dynomesh up`').makeOptionMandatory())
    .addOption(new Option('--host <addr>', 'the one address it listens on').makeOptionMandatory())
    .addOption(new Option('--port <port>', 'its port').argParser(parsePort).makeOptionMandatory())
    .action(async (name: string, flags: Flags) => {
      const { service } = await import('./addon-services.ts'); // pg and the Redis client: only for this command
      const svc = service(name);
      const view = ServerView.for(flags.dir, await ServerView.user());
      const [file, ...args] = view.argv(svc.argv(view.root, flags.host, flags.port));
      // Its output is ours (up's log of this daemon); the pid is the server's own (unshare, sh and setpriv exec).
      const server = spawn(file!, args, { env: SERVER_ENV, cwd: '/', stdio: ['ignore', 'inherit', 'inherit'] });
      const stop = () => server.kill(svc.stopSignal);
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      server.on('error', (err) => {
        process.stderr.write(`dynomesh addon-server: cannot start ${name}: ${err.message}\n`);
        process.exit(1);
      });
      server.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
    });
}
