/**
 * @module cli: `dynomesh <command>`. One binary for the user's commands and for
 * starting every daemon (`dynomesh router`, `dynomesh dyno-node`, `dynomesh control`).
 * Exit codes: 0 ok; 1 an error from the platform or a bad argument (one line on
 * stderr saying what to do); commander's own usage errors keep its code.
 */
import { Command, CommanderError } from 'commander';
import { ClusterError } from '../cluster/errors.ts';
import { CliError } from './errors.ts';
import { takeInsecureFlag } from './transport.ts';
import { daemonCommands } from './daemons.ts';
import { logCredentialCommand } from '../control/log-credential-command.ts';
import { certsKeyCommand } from '../control/certs/certs-key-command.ts';
import { registerUserCommands } from './commands/index.ts';
import { etcdCommand } from './up/etcd-command.ts';
import { watchParent } from './up/watchdog.ts';

const program = new Command('dynomesh')
  .description('a self-hosted Heroku: git push, buildpacks, releases, dynos and an edge router')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .enablePositionalOptions()
  .exitOverride();

registerUserCommands(program);
for (const cmd of daemonCommands()) program.addCommand(cmd);
program.addCommand(logCredentialCommand());
program.addCommand(certsKeyCommand());
program.addCommand(etcdCommand(), { hidden: true });

// Daemons started by `dynomesh up` stop themselves if `up` dies without stopping them.
watchParent();

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
});

try {
  await program.parseAsync(takeInsecureFlag(process.argv));
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  if (err instanceof CliError) {
    process.stderr.write(` ▸    ${err.message}\n`);
    process.exit(err.exitCode);
  }
  if (err instanceof ClusterError) {
    process.stderr.write(`dynomesh: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
