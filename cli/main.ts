/**
 * @module cli: `dynomesh <command>`. One binary for the user's commands and for
 * starting every daemon (`dynomesh router`, `dynomesh dyno-node`, `dynomesh control`).
 */
import { Command, CommanderError } from 'commander';
import { ClusterError } from '../cluster/errors.ts';
import { daemonCommands } from './daemons.ts';

const program = new Command('dynomesh')
  .description('a self-hosted Heroku: git push, buildpacks, releases, dynos and an edge router')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

for (const cmd of daemonCommands()) program.addCommand(cmd);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  if (err instanceof ClusterError) {
    process.stderr.write(`dynomesh: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
