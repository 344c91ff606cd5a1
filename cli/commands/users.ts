/** `users`, `users:add EMAIL [--admin]`, `users:remove EMAIL` (admin): the cluster's accounts. */
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { header, info, json, print, table, when } from '../output.ts';
import { api, step, withJson, type JsonFlags } from '../shared.ts';

interface UserJson {
  email: string;
  admin: boolean;
  created_at: string;
  created_by: string;
  token?: { access_token: { token: string } | null };
}

function email(raw: string): string {
  if (!/^[^\s@/]+(@[^\s@/]+)?$/.test(raw)) throw new CliError(`"${raw}" is not an email address; pass the user's email, e.g. bob@example.com`);
  return raw.toLowerCase();
}

export function registerUsers(program: Command): void {
  withJson(program.command('users').alias('users:list').description('list the accounts of this cluster (admin)')).action(async (flags: JsonFlags) => {
    const users = await api().get<UserJson[]>('/users');
    if (flags.json) return print(json(users));
    print(header('Users'));
    print(table(users, [
      { header: 'Email', get: (u) => u.email },
      { header: 'Role', get: (u) => (u.admin ? 'admin' : 'member') },
      { header: 'Added by', get: (u) => u.created_by },
      { header: 'Created', get: (u) => when(u.created_at) },
    ]));
  });

  withJson(program.command('users:add <email>').description('create an account and print its first API token, once (admin)'))
    .option('--admin', 'make the user an admin (users, nodes, every app)')
    .action(async (raw: string, flags: JsonFlags & { admin?: boolean }) => {
      const address = email(raw);
      const u = await step(`Creating user ${address}`, () => api().post<UserJson>('/users', { email: address, admin: flags.admin === true }));
      if (flags.json) return print(json(u));
      info(`Give ${address} this API token; it is shown only once (\`dynomesh login --token TOKEN\`):`);
      print(`${u.token?.access_token?.token ?? ''}\n`);
    });

  program.command('users:remove <email>').alias('users:rm').description('delete an account, its tokens and its access to apps (admin)')
    .action(async (raw: string) => {
      const address = email(raw);
      await step(`Removing user ${address}`, () => api().delete(`/users/${encodeURIComponent(address)}`));
    });
}
