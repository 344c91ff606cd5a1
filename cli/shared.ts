/**
 * What every user command shares: the `-a/--app` and `-r/--remote` flags, the
 * `--json` flag, the API client from the config, and Heroku-style progress
 * lines (`Scaling dynos... done`) on stderr.
 */
import { createInterface } from 'node:readline';
import { Option, type Command } from 'commander';
import { ApiClient } from './api.ts';
import { resolveApp, type AppFlags } from './app.ts';
import { CliError } from './errors.ts';
import { info } from './output.ts';

export interface JsonFlags {
  json?: boolean;
}

export function withApp(cmd: Command): Command {
  return cmd
    .addOption(new Option('-a, --app <app>', 'app to act on (default: from the "dynomesh" git remote)'))
    .addOption(new Option('-r, --remote <remote>', 'git remote naming the app (default: dynomesh)'));
}

export function withJson(cmd: Command): Command {
  return cmd.option('--json', 'print JSON (the Platform API objects) for scripts');
}

export function appOf(flags: AppFlags): string {
  return resolveApp(flags);
}

export function api(): ApiClient {
  return ApiClient.fromConfig();
}

/** `Doing something... done, v5`: the action line goes out before the work, the result after. */
export async function step<T>(what: string, fn: () => Promise<T>, result?: (v: T) => string): Promise<T> {
  process.stderr.write(`${what}... `);
  try {
    const v = await fn();
    info(result ? `done, ${result(v)}` : 'done');
    return v;
  } catch (err) {
    info('failed');
    throw err;
  }
}

/** One line that rewrites itself on a terminal, and prints only changes elsewhere. */
export class ProgressLine {
  private last = '';
  private readonly tty = Boolean(process.stderr.isTTY);

  update(text: string): void {
    if (text === this.last) return;
    this.last = text;
    if (this.tty) process.stderr.write(`\r\x1b[2K${text}`);
    else info(text);
  }

  done(text: string): void {
    if (this.tty) process.stderr.write(`\r\x1b[2K${text}\n`);
    else info(text);
    this.last = '';
  }
}

export const hex = (app: string) => `⬢ ${app}`;

function ask(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    rl.question(question, (a) => {
      rl.close();
      resolve(a.trim());
    });
  });
}

/**
 * Heroku's guard for commands that destroy data: `--confirm <app>`, or the app's name typed at
 * a prompt on a terminal. `warning` is shown before the prompt; `consequence` heads the error
 * a script gets when there is no terminal to ask on.
 */
export async function confirmApp(app: string, confirm: string | undefined, warning: string, consequence: string): Promise<void> {
  if (confirm === app) return;
  if (confirm !== undefined) throw new CliError(`--confirm ${confirm} does not match the app ${app}; nothing was destroyed`);
  if (!process.stdin.isTTY) throw new CliError(`${consequence}; to proceed, re-run with --confirm ${app}`);
  info(` !    WARNING: ${warning}`);
  const typed = await ask(` !    To proceed, type ${app}: `);
  if (typed !== app) throw new CliError(`confirmation did not match ${app}; nothing was destroyed`);
}
