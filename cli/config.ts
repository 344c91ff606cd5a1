/**
 * The CLI's config file: which control plane to talk to and the token to
 * present. `$DYNOMESH_CONFIG`, else `~/.dynomesh/cli.json`, written 0600
 * because it holds a secret. DYNOMESH_API_URL / DYNOMESH_API_KEY override it
 * (as HEROKU_API_KEY does) for scripts and CI.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './errors.ts';

export interface CliConfig {
  apiUrl?: string;
  token?: string;
  /** Who the token belongs to, shown by `dynomesh login` / `auth:whoami`. */
  user?: string;
}

export function configPath(): string {
  return process.env.DYNOMESH_CONFIG || join(homedir(), '.dynomesh', 'cli.json');
}

export function readConfig(path = configPath()): CliConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`cannot read the CLI config ${path}: ${(err as NodeJS.ErrnoException).code}; fix its permissions or remove it and run \`dynomesh login\``);
  }
  try {
    const v = JSON.parse(text) as CliConfig;
    return v && typeof v === 'object' ? v : {};
  } catch {
    throw new CliError(`the CLI config ${path} is not valid JSON; remove it and run \`dynomesh login\` again`);
  }
}

/** Writes atomically with mode 0600 (the token must not be readable by others). */
export function writeConfig(cfg: CliConfig, path = configPath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export const DEFAULT_API_URL = 'http://127.0.0.1:5050';

/** The API URL and token in effect: environment first, then the config file. */
export function credentials(): { apiUrl: string; token: string | undefined } {
  const cfg = readConfig();
  const apiUrl = (process.env.DYNOMESH_API_URL || cfg.apiUrl || DEFAULT_API_URL).replace(/\/+$/, '');
  const token = process.env.DYNOMESH_API_KEY || cfg.token;
  return { apiUrl, token };
}
