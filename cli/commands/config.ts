/** `config`, `config:get KEY`, `config:set K=V ...`, `config:unset K ...`: each change is a new release. */
import type { Command } from 'commander';
import type { AppFlags } from '../app.ts';
import { parseConfigKeys, parseConfigPairs } from '../args.ts';
import { CliError } from '../errors.ts';
import { header, json, keyValues, print } from '../output.ts';
import { awaitReleasePhase } from '../release-output.ts';
import { api, appOf, hex, step, withApp, withJson, type JsonFlags } from '../shared.ts';

type Vars = Record<string, string>;

/** `KEY='value'` lines a shell can `eval` or a .env file can hold. */
export function shellLines(vars: Vars): string {
  return Object.keys(vars).sort().map((k) => `${k}=${/^[A-Za-z0-9_@%+=:,./-]*$/.test(vars[k]!) ? vars[k] : `'${vars[k]!.replace(/'/g, `'\\''`)}'`}\n`).join('');
}

function sorted(vars: Vars): [string, string][] {
  return Object.keys(vars).sort().map((k) => [k, vars[k]!]);
}

async function patch(app: string, body: Record<string, string | null>, what: string): Promise<{ vars: Vars; release: string | null }> {
  const res = await step(`${what} and restarting ${hex(app)}`, async () => {
    const r = await api().request<Vars>('PATCH', `/apps/${app}/config-vars`, body);
    return { vars: r.body, release: r.headers.get('x-dynomesh-release'), status: r.headers.get('x-dynomesh-release-status') };
  }, (r) => (r.release ? `v${r.release}` : 'no change'));
  if (res.release && res.status === 'pending') await awaitReleasePhase(api(), app, Number(res.release));
  return res;
}

export function registerConfig(program: Command): void {
  withJson(withApp(program.command('config').alias('config:list').description('show the config vars of an app')))
    .option('-s, --shell', 'print KEY=value lines for a shell or .env file')
    .action(async (flags: AppFlags & JsonFlags & { shell?: boolean }) => {
      const app = appOf(flags);
      const vars = await api().get<Vars>(`/apps/${app}/config-vars`);
      if (flags.json) return print(json(vars));
      if (flags.shell) return print(shellLines(vars));
      print(header(`${app} Config Vars`));
      print(keyValues(sorted(vars)));
    });

  withJson(withApp(program.command('config:get <key>').description('print one config var (an empty line when it is not set)')))
    .option('-s, --shell', 'print KEY=value')
    .action(async (key: string, flags: AppFlags & JsonFlags & { shell?: boolean }) => {
      const app = appOf(flags);
      const vars = await api().get<Vars>(`/apps/${app}/config-vars`);
      const v = vars[key];
      if (flags.json) return print(json(v ?? null));
      if (flags.shell) return print(v === undefined ? '' : shellLines({ [key]: v }));
      print(v === undefined ? '\n' : `${v}\n`);
    });

  withJson(withApp(program.command('config:set <pairs...>').alias('config:add').description('set config vars (KEY=value ...); makes a new release and restarts the dynos')))
    .action(async (pairs: string[], flags: AppFlags & JsonFlags) => {
      const vars = parseConfigPairs(pairs);
      const app = appOf(flags);
      const keys = Object.keys(vars);
      const res = await patch(app, vars, `Setting ${keys.join(', ')}`);
      if (flags.json) return print(json(res.vars));
      const shown: Vars = {};
      for (const k of keys) shown[k] = res.vars[k] ?? '';
      print(keyValues(sorted(shown)));
    });

  withJson(withApp(program.command('config:unset <keys...>').alias('config:remove').description('remove config vars; makes a new release and restarts the dynos')))
    .action(async (keys: string[], flags: AppFlags & JsonFlags) => {
      const names = parseConfigKeys(keys);
      const app = appOf(flags);
      const body: Record<string, null> = {};
      for (const k of names) body[k] = null;
      const res = await patch(app, body, `Unsetting ${names.join(', ')}`);
      if (flags.json) print(json(res.vars));
      for (const k of names) if (res.vars[k] !== undefined) throw new CliError(`${k} is still set on ${app}`);
    });
}
