/**
 * `addons`, `addons:create <service>[:<plan>] [--as NAME]`, `addons:info <addon>`,
 * `addons:upgrade <addon> <plan>`, `addons:destroy <addon> --confirm <app>`,
 * `addons:services`: backing services (postgresql, redis) attached as config vars.
 */
import type { Command } from 'commander';
import type { AppFlags } from '../app.ts';
import { CliError } from '../errors.ts';
import { header, info, json, keyValues, print, table, when } from '../output.ts';
import { awaitReleasePhase } from '../release-output.ts';
import { api, appOf, confirmApp, hex, step, withApp, withJson, type JsonFlags } from '../shared.ts';

interface AddonJson {
  id: string;
  name: string;
  addon_service: { name: string };
  plan: { name: string };
  app: { name: string };
  attachment: { name: string };
  config_vars: string[];
  state: string;
  created_at: string;
  provision_message?: string | null;
  release?: { version: number; status?: string } | null;
}

interface ServiceJson {
  name: string;
  plans: { name: string; default: boolean }[];
  config_vars_prefix: string;
}

const SERVICE = /^[a-z][a-z0-9-]*(:[a-z0-9][a-z0-9-]*)?$/;

const path = (app: string, addon?: string) => `/apps/${app}/addons${addon ? `/${encodeURIComponent(addon)}` : ''}`;

export function registerAddons(program: Command): void {
  withJson(withApp(program.command('addons').alias('addons:list').description("list an app's add-ons"))).action(async (flags: AppFlags & JsonFlags) => {
    const app = appOf(flags);
    const list = await api().get<AddonJson[]>(path(app));
    if (flags.json) return print(json(list));
    if (!list.length) return info(`No add-ons for app ${app}. Create one with \`dynomesh addons:create postgresql -a ${app}\`.`);
    print(table(list, [
      { header: 'Add-on', get: (a) => a.name },
      { header: 'Plan', get: (a) => a.plan.name },
      { header: 'As', get: (a) => a.attachment.name },
      { header: 'Config vars', get: (a) => a.config_vars.join(', ') },
      { header: 'State', get: (a) => a.state },
    ]));
  });

  withJson(withApp(program.command('addons:create <service>').description('create an add-on and attach it: e.g. postgresql, postgresql:standard, redis')))
    .option('--as <name>', 'attachment name; config vars become NAME_URL... (default: the service\'s, e.g. DATABASE)')
    .action(async (service: string, flags: AppFlags & JsonFlags & { as?: string }) => {
      if (!SERVICE.test(service)) throw new CliError(`"${service}" is not a service[:plan]; try postgresql, postgresql:standard or redis (see \`dynomesh addons:services\`)`);
      if (flags.as !== undefined && !/^[A-Za-z][A-Za-z0-9_]{0,29}$/.test(flags.as)) {
        throw new CliError(`--as ${flags.as} is not a valid attachment name: use letters, digits and _, starting with a letter (e.g. CACHE)`);
      }
      const app = appOf(flags);
      const body = { plan: service, ...(flags.as ? { attachment: { name: flags.as } } : {}) };
      const a = await step(`Creating ${service} on ${hex(app)}`, () => api().post<AddonJson>(path(app), body), (r) => `v${r.release?.version}`);
      if (flags.json) return print(json(a));
      if (a.provision_message) info(a.provision_message);
      print(`Created ${a.name} as ${a.config_vars.join(', ')}\n`);
      if (a.release?.status === 'pending') await awaitReleasePhase(api(), app, a.release.version);
      info(`Use \`dynomesh addons:info ${a.name} -a ${app}\` to see details.`);
    });

  withJson(withApp(program.command('addons:info <addon>').description('show an add-on (by name, or attachment name such as DATABASE)'))).action(async (addon: string, flags: AppFlags & JsonFlags) => {
    const app = appOf(flags);
    const a = await api().get<AddonJson>(path(app, addon));
    if (flags.json) return print(json(a));
    print(header(a.name));
    print(keyValues([
      ['Attachments', `${a.app.name}::${a.attachment.name}`],
      ['Config vars', a.config_vars.join(', ')],
      ['Installed at', when(a.created_at)],
      ['Owning app', a.app.name],
      ['Plan', a.plan.name],
      ['State', a.state],
    ]));
  });

  withJson(withApp(program.command('addons:upgrade <addon> <plan>').alias('addons:downgrade').description("change an add-on's plan in place (e.g. postgresql:standard)")))
    .action(async (addon: string, plan: string, flags: AppFlags & JsonFlags) => {
      const app = appOf(flags);
      const current = await api().get<AddonJson>(path(app, addon));
      const full = plan.includes(':') ? plan : `${current.addon_service.name}:${plan}`;
      const a = await step(`Changing ${current.name} on ${hex(app)} from ${current.plan.name} to ${full}`, () => api().patch<AddonJson>(path(app, addon), { plan: full }));
      if (flags.json) print(json(a));
    });

  withJson(withApp(program.command('addons:destroy <addon>').alias('addons:remove').description('detach an add-on (new release without its config vars) and delete it and its data')))
    .option('--confirm <app>', 'the app name, to confirm without a prompt')
    .action(async (addon: string, flags: AppFlags & JsonFlags & { confirm?: string }) => {
      const app = appOf(flags);
      await confirmApp(app, flags.confirm, `this will destroy ${addon} on ${app} and all of its data.`, `this deletes ${addon} and all its data for good`);
      const a = await step(`Destroying ${addon} on ${hex(app)}`, () => api().delete<AddonJson>(path(app, addon)), (r) => (r.release ? `v${r.release.version}` : 'no config vars to remove'));
      if (flags.json) print(json(a));
    });

  withJson(program.command('addons:services').description('list the add-on services and plans this platform offers')).action(async (flags: JsonFlags) => {
    const list = await api().get<ServiceJson[]>('/addon-services');
    if (flags.json) return print(json(list));
    if (!list.length) return info('No add-on services are configured; the operator starts control with --addon-postgresql or --addon-redis.');
    print(table(list, [
      { header: 'Service', get: (s) => s.name },
      { header: 'Plans', get: (s) => s.plans.map((p) => p.name.split(':')[1] + (p.default ? ' (default)' : '')).join(', ') },
      { header: 'Config vars', get: (s) => `${s.config_vars_prefix}_URL` },
    ]));
  });
}
