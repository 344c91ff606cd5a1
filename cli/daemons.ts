/** The long-running processes one `dynomesh` binary starts. Each folder owns its command. */
import type { Command } from 'commander';

export function daemonCommands(): Command[] {
  return [];
}
