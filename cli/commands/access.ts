/** `access`, `access:add EMAIL`, `access:remove EMAIL`, `apps:transfer EMAIL`: who can reach an app (Heroku's names and output). */
import type { Command } from 'commander';
import type { AppFlags } from '../app.ts';
import { CliError } from '../errors.ts';
import { header, json, print, table } from '../output.ts';
import { api, appOf, hex, step, withApp, withJson, type JsonFlags } from '../shared.ts';

interface CollaboratorJson {
  role: 'owner' | 'collaborator';
  user: { email: string };
}

const EMAIL = /^[^\s@]+(@[^\s@]+)?$/;

function email(raw: string): string {
  if (!EMAIL.test(raw)) throw new CliError(`"${raw}" is not an email address; pass the user's email, e.g. bob@example.com`);
  return raw.toLowerCase();
}

export function registerAccess(program: Command): void {
  withJson(withApp(program.command('access').alias('sharing').description('list who has access to an app'))).action(async (flags: AppFlags & JsonFlags) => {
    const app = appOf(flags);
    const list = await api().get<CollaboratorJson[]>(`/apps/${app}/collaborators`);
    if (flags.json) return print(json(list));
    print(header(`${hex(app)} Access List`));
    print(table(list, [{ header: 'Email', get: (c) => c.user.email }, { header: 'Role', get: (c) => c.role }]));
  });

  withApp(program.command('access:add <email>').alias('sharing:add').description('let a user deploy and manage the app as a collaborator')).action(async (raw: string, flags: AppFlags) => {
    const app = appOf(flags);
    const user = email(raw);
    await step(`Adding ${user} access to the app ${app}`, () => api().post(`/apps/${app}/collaborators`, { user }));
  });

  withApp(program.command('access:remove <email>').alias('sharing:remove').description('take a collaborator\'s access away (at once)')).action(async (raw: string, flags: AppFlags) => {
    const app = appOf(flags);
    const user = email(raw);
    await step(`Removing ${user} access from the app ${app}`, () => api().delete(`/apps/${app}/collaborators/${encodeURIComponent(user)}`));
  });

  withApp(program.command('apps:transfer <recipient>').alias('sharing:transfer').description('make another user the owner of the app (you stay on as a collaborator)'))
    .action(async (raw: string, flags: AppFlags) => {
      const app = appOf(flags);
      const recipient = email(raw);
      await step(`Transferring ${hex(app)} to ${recipient}`, () => api().post('/account/app-transfers', { app, recipient }));
    });
}
