/**
 * Procfile parsing as Heroku's: one `type: command` per line; blank lines and
 * lines that are not `type: command` are ignored (Heroku's parser skips them too),
 * a repeated type keeps its last command.
 */
import { isProcessType } from '../../cluster/names.ts';

export interface ProcfileResult {
  types: Record<string, string>;
  /** Lines that looked like a process type but named one dynomesh cannot run. */
  problems: string[];
}

const LINE = /^([A-Za-z0-9_-]+):\s*(.+)$/;
/** What a dyno name (`web.1`) allows for its type; checked here so the build fails before packing. */

export function parseProcfile(text: string): ProcfileResult {
  const types: Record<string, string> = {};
  const problems: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const m = LINE.exec(raw.trim());
    if (!m) continue;
    const type = m[1]!;
    const command = m[2]!.trim();
    if (!isProcessType(type)) {
      problems.push(`process type "${type}" is not valid: use lowercase letters, digits and _ starting with a letter`);
      continue;
    }
    types[type] = command;
  }
  return { types, problems };
}
