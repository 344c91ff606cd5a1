/** `drains`, `drains:add <url>`, `drains:remove <url or id>`: forward an app's logs to syslog or HTTPS. */
import type { Command } from 'commander';
import type { AppFlags } from '../app.ts';
import { header, json, print, table } from '../output.ts';
import { api, appOf, hex, step, withApp, withJson, type JsonFlags } from '../shared.ts';

interface DrainJson {
  id: string;
  url: string;
  token: string;
  created_at: string;
}

export function registerDrains(program: Command): void {
  withJson(withApp(program.command('drains').alias('drains:list').description('list the log drains of an app'))).action(async (flags: AppFlags & JsonFlags) => {
    const app = appOf(flags);
    const list = await api().get<DrainJson[]>(`/apps/${app}/log-drains`);
    if (flags.json) return print(json(list));
    if (list.length === 0) return print(`${app} has no drains. Add one with \`dynomesh drains:add syslog://host:514\`.\n`);
    print(header(`${app} Drains`));
    print(table(list, [{ header: 'URL', get: (d) => d.url }, { header: 'Token', get: (d) => d.token }]));
  });

  withJson(withApp(program.command('drains:add <url>').description('send the app\'s logs to syslog://host:port, syslog+tls://host:port or https://host/path')))
    .action(async (url: string, flags: AppFlags & JsonFlags) => {
      const app = appOf(flags);
      const d = await step(`Adding drain ${url} to ${hex(app)}`, () => api().post<DrainJson>(`/apps/${app}/log-drains`, { url }));
      if (flags.json) print(json(d));
      else print(`${d.url} (token ${d.token})\n`);
    });

  withApp(program.command('drains:remove <url-or-id>').alias('drains:rm').description('stop draining the app\'s logs to a URL'))
    .action(async (ref: string, flags: AppFlags) => {
      const app = appOf(flags);
      await step(`Removing drain ${ref} from ${hex(app)}`, () => api().delete(`/apps/${app}/log-drains/${encodeURIComponent(ref)}`));
    });
}
