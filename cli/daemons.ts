/** The long-running processes one `dynomesh` binary starts. Each folder owns its command. */
import type { Command } from 'commander';
import { routerCommand } from '../router/command.ts';
import { controlCommand } from '../control/command.ts';
import { dynoNodeCommand } from '../dyno-node/command.ts';

export function daemonCommands(): Command[] {
  return [routerCommand(), controlCommand(), dynoNodeCommand()];
}
