/**
 * `logs [-n N] [--tail] [--source S] [--dyno D]`: the app's merged log stream.
 * Asks the control plane for a log session (Heroku's `POST /apps/{app}/log-sessions`,
 * answered with a `logplex_url`) and streams that URL to stdout. A control plane
 * without a log service says so, rather than us printing nothing.
 */
import type { Command } from 'commander';
import type { AppFlags } from '../app.ts';
import { MissingRouteError } from '../api.ts';
import { CliError } from '../errors.ts';
import { api, appOf, withApp } from '../shared.ts';
import { parsePositiveInt } from '../../lib/options.ts';

interface LogSession {
  logplex_url: string;
}

export function registerLogs(program: Command): void {
  withApp(program.command('logs').description('show recent log lines of an app (routers, dynos, platform); --tail to follow'))
    .option('-n, --num <n>', 'number of recent lines (max 1500)', parsePositiveInt, 100)
    .option('-t, --tail', 'keep streaming new lines')
    .option('-s, --source <source>', 'only lines from this source: app, heroku (router and dyno lifecycle) or api')
    .option('-d, --dyno <dyno>', 'only lines of this dyno (web.1) or process type (web)')
    .action(async (flags: AppFlags & { num: number; tail?: boolean; source?: string; dyno?: string }) => {
      const app = appOf(flags);
      if (flags.num > 1500) throw new CliError('-n can be at most 1500 (the log service keeps the last 1500 lines per app)');
      const client = api();
      const body = { lines: flags.num, tail: Boolean(flags.tail), ...(flags.source ? { source: flags.source } : {}), ...(flags.dyno ? { dyno: flags.dyno } : {}) };
      let session: LogSession;
      try {
        session = await client.post<LogSession>(`/apps/${app}/log-sessions`, body);
      } catch (err) {
        if (err instanceof MissingRouteError) {
          throw new CliError(`logs are not available on this control plane at ${client.baseUrl}: it runs no log service yet`);
        }
        throw err;
      }
      const url = new URL(session.logplex_url, client.baseUrl);
      const sameHost = url.origin === new URL(client.baseUrl).origin;
      // Ctrl-C ends a tail: that is how people stop it, so it is a success.
      process.once('SIGINT', () => process.exit(0));
      const res = sameHost
        ? await client.raw('GET', url.pathname + url.search, undefined, { timeoutMs: 0, accept: 'text/plain' })
        : await fetch(url).catch((err: unknown) => {
          throw new CliError(`cannot reach the log stream at ${url.origin}: ${(err as Error).message}`);
        });
      if (!res.ok || !res.body) throw new CliError(`the log stream at ${url.origin} answered HTTP ${res.status}`);
      try {
        let last = 10;
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          if (chunk.length) last = chunk[chunk.length - 1]!;
          process.stdout.write(chunk);
        }
        if (last !== 10) process.stdout.write('\n'); // end on a whole line, whatever the service sent
      } catch (err) {
        throw new CliError(`the log stream ended: ${(err as Error).message}; run the command again to resume`);
      }
    });
}
