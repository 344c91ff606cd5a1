/** `features`, `features:info`, `features:enable`, `features:disable`: per-app router features (http-redirect, hsts). */
import type { Command } from 'commander';
import type { AppFlags } from '../app.ts';
import { header, json, keyValues, print } from '../output.ts';
import { api, appOf, hex, step, withApp, withJson, type JsonFlags } from '../shared.ts';

interface FeatureJson {
  name: string;
  description: string;
  enabled: boolean;
}

export function registerFeatures(program: Command): void {
  withJson(withApp(program.command('features').description('list the app\'s features and whether each is on'))).action(async (flags: AppFlags & JsonFlags) => {
    const app = appOf(flags);
    const list = await api().get<FeatureJson[]>(`/apps/${app}/features`);
    if (flags.json) return print(json(list));
    print(header(`App Features ${hex(app)}`));
    const w = Math.max(...list.map((f) => f.name.length));
    print(list.map((f) => `[${f.enabled ? '+' : ' '}] ${f.name.padEnd(w)}  ${f.description}`).join('\n') + '\n');
  });

  withJson(withApp(program.command('features:info <feature>').description('show one feature'))).action(async (name: string, flags: AppFlags & JsonFlags) => {
    const f = await api().get<FeatureJson>(`/apps/${appOf(flags)}/features/${encodeURIComponent(name)}`);
    if (flags.json) return print(json(f));
    print(header(f.name) + keyValues([['Description', f.description], ['Enabled', f.enabled ? 'true' : 'false']]));
  });

  for (const on of [true, false]) {
    withApp(program.command(`features:${on ? 'enable' : 'disable'} <feature>`).description(on ? 'turn a feature on (http-redirect: plain HTTP is redirected to HTTPS; hsts)' : 'turn a feature off'))
      .action(async (name: string, flags: AppFlags) => {
        const app = appOf(flags);
        await step(`${on ? 'Enabling' : 'Disabling'} ${name} for ${hex(app)}`, () => api().patch(`/apps/${app}/features/${encodeURIComponent(name)}`, { enabled: on }));
      });
  }
}
