/** `apps`, `apps:create [name]`, `apps:info`, `apps:destroy`. */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { isAppName } from '../../cluster/names.ts';
import { DEFAULT_REMOTE } from '../app.ts';
import { CliError } from '../errors.ts';
import { addRemote, cloneArgs, isGitRepo, removeRemotesOf } from '../git.ts';
import { header, info, json, keyValues, print, table, when } from '../output.ts';
import { api, appOf, confirmApp, hex, step, withApp, withJson, type JsonFlags } from '../shared.ts';
import type { AppFlags } from '../app.ts';

export interface AppJson {
  id: string;
  name: string;
  created_at: string;
  released_at: string | null;
  current_release: { id: string | null; version: number } | null;
  maintenance: boolean;
  web_url: string;
  git_url: string;
  owner: { email: string };
  stack: { name: string };
  buildpacks?: unknown;
  routing: { affinity: string; balance_factor: number } | null;
}

interface DynoJson {
  type: string;
  state: string;
}

export function registerApps(program: Command): void {
  withJson(program.command('apps').alias('apps:list').description('list your apps')).action(async (flags: JsonFlags) => {
    const apps = await api().get<AppJson[]>('/apps');
    if (flags.json) return print(json(apps));
    if (apps.length === 0) return print('You have no apps. Create one with `dynomesh apps:create`.\n');
    print(header('Apps'));
    print(table(apps, [
      { header: 'Name', get: (a) => a.name },
      { header: 'Release', get: (a) => (a.current_release ? `v${a.current_release.version}` : '') },
      { header: 'Web URL', get: (a) => a.web_url },
      { header: 'Maintenance', get: (a) => (a.maintenance ? 'on' : '') },
    ]));
  });

  withJson(program.command('apps:create [name]').alias('create').description('create an app; in a git repo, add a "dynomesh" git remote for `git push dynomesh main`'))
    .option('-r, --remote <remote>', 'name of the git remote to add', DEFAULT_REMOTE)
    .option('--no-remote', 'do not add a git remote')
    .action(async (name: string | undefined, flags: JsonFlags & { remote: string | false }) => {
      if (name !== undefined && !isAppName(name)) {
        throw new CliError(`"${name}" is not a valid app name: use lowercase letters, digits and -, starting with a letter, at most 30 characters`);
      }
      const create = () => api().post<AppJson>('/apps', name ? { name } : {});
      const app = name ? await step(`Creating ${hex(name)}`, create) : await step('Creating app', create, (a) => hex(a.name));
      if (flags.json) print(json(app));
      else print(`${app.web_url} | ${app.git_url}\n`);
      if (flags.remote !== false && isGitRepo()) {
        const how = addRemote(flags.remote, app.git_url);
        info(`Git remote ${flags.remote} ${how}: ${app.git_url}  (push with \`git push ${flags.remote} main\`)`);
      }
    });

  withJson(withApp(program.command('apps:info').alias('info').description('show an app: release, web URL, git URL, dynos'))).action(async (flags: AppFlags & JsonFlags) => {
    const name = appOf(flags);
    const client = api();
    const [app, dynos] = await Promise.all([client.get<AppJson>(`/apps/${name}`), client.get<DynoJson[]>(`/apps/${name}/dynos`)]);
    if (flags.json) return print(json({ ...app, dynos }));
    const counts = new Map<string, number>();
    for (const d of dynos) counts.set(d.type, (counts.get(d.type) ?? 0) + 1);
    print(header(app.name));
    print(keyValues([
      ['Web URL', app.web_url],
      ['Git URL', app.git_url],
      ['Owner', app.owner.email],
      ['Release', app.current_release ? `v${app.current_release.version}` : 'none'],
      ['Released', when(app.released_at)],
      ['Created', when(app.created_at)],
      ['Dynos', [...counts].map(([t, n]) => `${t}: ${n}`).join(', ') || 'none'],
      ['Stack', app.stack.name],
      ['Maintenance', app.maintenance ? 'on' : 'off'],
      ['Affinity', app.routing?.affinity ?? ''],
    ]));
  });

  withApp(program.command('apps:open [path]').alias('open').description('open the app in a browser (prints its URL when there is none)'))
    .action(async (path: string | undefined, flags: AppFlags) => {
      const app = await api().get<AppJson>(`/apps/${appOf(flags)}`);
      const url = new URL((path ?? '').replace(/^\//, ''), app.web_url).toString();
      print(`${url}\n`);
      const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
      if (process.stdout.isTTY && (process.platform === 'darwin' || process.env.DISPLAY || process.env.WAYLAND_DISPLAY)) {
        spawn(opener, [url], { stdio: 'ignore', detached: true }).on('error', () => undefined).unref();
      }
    });

  program
    .command('git:remote')
    .description('add (or repoint) a git remote for an existing app: git push <remote> main')
    .requiredOption('-a, --app <app>', 'the app')
    .option('-r, --remote <remote>', 'name of the git remote', DEFAULT_REMOTE)
    .action(async (flags: { app: string; remote: string }) => {
      if (!isGitRepo()) throw new CliError('this is not a git repository; run `git init` first');
      const app = await api().get<AppJson>(`/apps/${appOf({ app: flags.app })}`);
      const how = addRemote(flags.remote, app.git_url);
      info(`Git remote ${flags.remote} ${how}: ${app.git_url}`);
    });

  program
    .command('git:clone [directory]')
    .description('clone an app\'s source (you own or collaborate on it) with the "dynomesh" remote set up for git push')
    .requiredOption('-a, --app <app>', 'the app')
    .option('-r, --remote <remote>', 'name of the git remote', DEFAULT_REMOTE)
    .action(async (directory: string | undefined, flags: { app: string; remote: string }) => {
      const app = await api().get<AppJson>(`/apps/${appOf({ app: flags.app })}`);
      const code = await new Promise<number | null>((resolve, reject) => {
        const p = spawn('git', cloneArgs(flags.remote, app.git_url, directory ?? app.name), { stdio: 'inherit' });
        p.on('error', reject);
        p.on('close', resolve);
      });
      if (code !== 0) throw new CliError(`git clone of ${app.name} failed (exit ${code}); see git's message above`);
    });

  withJson(withApp(program.command('apps:destroy [name]').alias('destroy').description('permanently destroy an app: releases, config, dynos, domains')))
    .option('--confirm <name>', 'the app name again, to confirm without a prompt')
    .action(async (positional: string | undefined, flags: AppFlags & JsonFlags & { confirm?: string }) => {
      const name = positional ?? appOf(flags);
      await confirmApp(name, flags.confirm, `this will permanently destroy ${name}, its releases, config vars and dynos.`, `this destroys ${name} for good`);
      const app = await step(`Destroying ${hex(name)}`, () => api().delete<AppJson>(`/apps/${name}`));
      if (isGitRepo()) for (const r of removeRemotesOf(name)) info(`Git remote ${r} removed`);
      if (flags.json) print(json(app));
    });
}
