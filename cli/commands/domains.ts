/** `domains`, `domains:add <host>`, `domains:remove <host>`: custom hostnames routed to the app. */
import type { Command } from 'commander';
import type { AppFlags } from '../app.ts';
import { header, info, json, print, table } from '../output.ts';
import { api, appOf, hex, step, withApp, withJson, type JsonFlags } from '../shared.ts';

interface DomainJson {
  hostname: string;
  kind: string;
  status: string;
}

export function registerDomains(program: Command): void {
  withJson(withApp(program.command('domains').alias('domains:list').description('list the hostnames an app answers to'))).action(async (flags: AppFlags & JsonFlags) => {
    const app = appOf(flags);
    const list = await api().get<DomainJson[]>(`/apps/${app}/domains`);
    if (flags.json) return print(json(list));
    const builtIn = list.filter((d) => d.kind === 'heroku');
    const custom = list.filter((d) => d.kind !== 'heroku');
    print(header(`${app} Default Domain`));
    print(builtIn.map((d) => d.hostname).join('\n') + '\n');
    if (custom.length) {
      print('\n' + header(`${app} Custom Domains`));
      print(table(custom, [{ header: 'Domain Name', get: (d) => d.hostname }, { header: 'Status', get: (d) => d.status }]));
    }
  });

  withJson(withApp(program.command('domains:add <hostname>').description('route a hostname to the app (point its DNS at your routers)'))).action(async (host: string, flags: AppFlags & JsonFlags) => {
    const app = appOf(flags);
    const d = await step(`Adding ${host} to ${hex(app)}`, () => api().post<DomainJson>(`/apps/${app}/domains`, { hostname: host }));
    if (flags.json) return print(json(d));
    info(`Point ${d.hostname} (a DNS A or CNAME record) at your dynomesh routers.`);
  });

  withApp(program.command('domains:remove <hostname>').alias('domains:rm').description('stop routing a hostname to the app')).action(async (host: string, flags: AppFlags) => {
    const app = appOf(flags);
    await step(`Removing ${host} from ${hex(app)}`, () => api().delete(`/apps/${app}/domains/${encodeURIComponent(host)}`));
  });
}
