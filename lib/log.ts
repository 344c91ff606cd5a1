/**
 * pino, JSON by default and pretty only on a TTY; one child logger per component.
 * Secrets never reach a log line: token, password and config fields are redacted.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'token', '*.token', 'password', '*.password', 'authorization', '*.authorization', 'headers.authorization',
  'config', '*.config', 'configVars', '*.configVars', 'env', '*.env',
];

let root: Logger | undefined;

function makeRoot(): Logger {
  const level = process.env.DYNOMESH_LOG_LEVEL ?? 'info';
  const pretty = process.stdout.isTTY && process.env.DYNOMESH_LOG_FORMAT !== 'json';
  return pino({
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  });
}

export function rootLogger(): Logger {
  return (root ??= makeRoot());
}

/** A child logger for one component (`router`, `dyno-node`, `control`, `scheduler`...). */
export function logger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}

/** Replace the root logger (tests capture lines through this). */
export function setRootLogger(l: Logger): void {
  root = l;
}
