/** `login`, `logout`, `auth:whoami`, `auth:token`, and git's credential helper. */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { ApiClient } from '../api.ts';
import { configPath, credentials, DEFAULT_API_URL, readConfig, writeConfig } from '../config.ts';
import { CliError } from '../errors.ts';
import { answerCredential } from '../git.ts';
import { info, json, print } from '../output.ts';
import { api, withJson, type JsonFlags } from '../shared.ts';

interface Account {
  email: string;
  admin: boolean;
}

function parseApiUrl(v: string): string {
  try {
    const u = new URL(v);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    return v.replace(/\/+$/, '');
  } catch {
    throw new CliError(`"${v}" is not an http(s) URL; pass the control plane's API URL, e.g. --api http://127.0.0.1:5050`);
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let s = '';
  for await (const chunk of stream) s += chunk.toString();
  return s;
}

/** Asks for the token on a terminal without echoing it. */
function promptSecret(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void };
    let asked = false;
    out._writeToOutput = (s: string) => {
      if (!asked) {
        process.stderr.write(s);
        asked = true;
      }
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer.trim());
    });
  });
}

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('store the control plane URL and your API token in the CLI config (0600)')
    .option('--api <url>', `Platform API URL (default: the configured one, else ${DEFAULT_API_URL})`)
    .option('--token <token>', 'API token (default: read from stdin, or asked for on a terminal)')
    .action(async (flags: { api?: string; token?: string }) => {
      const cfg = readConfig();
      const apiUrl = parseApiUrl(flags.api ?? cfg.apiUrl ?? DEFAULT_API_URL);
      let token = flags.token;
      if (!token) token = process.stdin.isTTY ? await promptSecret(`API token for ${apiUrl}: `) : (await readAll(process.stdin)).trim();
      if (!token) throw new CliError('no token given; pass --token, pipe it on stdin, or type it when asked (`dynomesh up` prints the admin token)');
      const account = await new ApiClient(apiUrl, token).get<Account>('/account');
      writeConfig({ ...cfg, apiUrl, token, user: account.email });
      info(`Logged in to ${apiUrl} as ${account.email}${account.admin ? ' (admin)' : ''}; saved to ${configPath()}`);
    });

  program
    .command('logout')
    .description('remove the API token from the CLI config')
    .action(() => {
      const cfg = readConfig();
      delete cfg.token;
      delete cfg.user;
      writeConfig(cfg);
      info('Logged out');
    });

  withJson(program.command('auth:whoami').alias('whoami').description('who the configured token belongs to')).action(async (flags: JsonFlags) => {
    const account = await api().get<Account>('/account');
    print(flags.json ? json(account) : `${account.email}\n`);
  });

  program
    .command('auth:token')
    .description('print the API token in use (for scripts and curl)')
    .action(() => {
      const { token } = credentials();
      if (!token) throw new CliError('not logged in; run `dynomesh login`');
      print(`${token}\n`);
    });

  // git runs this as its credential helper (see cli/git.ts); not for people.
  program
    .command('git:credentials <action>', { hidden: true })
    .description('git credential helper for dynomesh remotes')
    .action(async (action: string) => {
      const input = process.stdin.isTTY ? '' : await readAll(process.stdin);
      print(await answerCredential(action, input));
    });
}
