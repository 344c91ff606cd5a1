/**
 * A dyno's environment: exactly the stack defaults, the release's config vars
 * and what the platform sets (PORT, DYNO, PS). Nothing leaks from the agent's
 * own environment (it holds etcd credentials and the cluster key path).
 */
import { dirname } from 'node:path';

/** The stack's PATH: node's own directory first, so `web: node server.js` works on any host layout. */
export function stackPath(): string {
  const dirs = [dirname(process.execPath), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  return [...new Set(dirs)].join(':');
}

export interface DynoEnvInput {
  config: Record<string, string>;
  dyno: string;
  home: string;
  /** Web dynos only. */
  port?: number;
}

export function dynoEnv({ config, dyno, home, port }: DynoEnvInput): Record<string, string> {
  // Config vars may override the stack's PATH (as on Heroku); the platform's own vars always win.
  const env: Record<string, string> = { HOME: home, PATH: stackPath(), ...config, DYNO: dyno, PS: dyno };
  if (port !== undefined) env.PORT = String(port);
  else delete env.PORT;
  return env;
}

/**
 * The argv that runs a process type's command. With a `.profile.d/` or `.profile`
 * in the slug they are sourced first (after config vars, as Heroku does), then the
 * command runs through its own `/bin/sh -c`.
 */
export function commandArgv(command: string, hasProfile: boolean): string[] {
  if (!hasProfile) return ['/bin/sh', '-c', command];
  const prelude =
    'for f in .profile.d/*.sh; do [ -r "$f" ] && . "./$f"; done; [ -r .profile ] && . ./.profile; exec /bin/sh -c "$1"';
  return ['/bin/sh', '-c', prelude, 'dyno', command];
}

/**
 * Holds the command until the agent has put it in its cgroup: the gate reads one
 * line from stdin (the agent writes it after joining the pid), then execs the
 * command with stdin from /dev/null. Without it, a shell that forks its command
 * at once leaves the forked child outside the cgroup. If the agent dies first,
 * the read sees EOF and the gate exits.
 */
export function gatedArgv(argv: string[], keepStdin = false): string[] {
  const gate = keepStdin ? 'read _ || exit 111; exec "$@"' : 'read _ || exit 111; exec </dev/null; exec "$@"';
  return ['/bin/sh', '-c', gate, 'dyno-gate', ...argv];
}

const shellQuote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/**
 * The command on a pseudo-terminal (`dynomesh run` from a terminal): util-linux
 * `script` makes the pty and passes the command's exit status back (-e); the window
 * size is set on the pty before the command starts, and later by `resizePty`.
 */
export function ttyArgv(argv: string[], tty: { rows: number; cols: number }): string[] {
  const inner = `stty rows ${tty.rows} cols ${tty.cols} 2>/dev/null; exec ${argv.map(shellQuote).join(' ')}`;
  return ['script', '-qfec', inner, '/dev/null'];
}
