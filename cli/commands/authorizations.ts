/**
 * `authorizations`, `authorizations:create`, `authorizations:info ID`,
 * `authorizations:revoke ID`: your API tokens, as Heroku's CLI shows them.
 * Scoped, app-limited, expiring tokens are for CI (`--scope deploy --app A`).
 */
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { json, keyValues, print, table, when } from '../output.ts';
import { api, step, withJson, type JsonFlags } from '../shared.ts';

interface AuthorizationJson {
  id: string;
  description: string;
  scope: string[];
  app: { name: string } | null;
  created_at: string;
  expires_at: string | null;
  access_token: { token: string; expires_in: number | null } | null;
}

const SCOPES = ['global', 'write', 'read', 'deploy'];

function show(a: AuthorizationJson): string {
  return keyValues([
    ['ID', a.id],
    ['Description', a.description],
    ['Scope', a.scope.join(', ')],
    ...(a.app ? [['App', a.app.name] as const] : []),
    ...(a.access_token ? [['Token', a.access_token.token] as const] : []),
    ['Expires at', a.expires_at ? when(a.expires_at) : '(never)'],
    ['Created at', when(a.created_at)],
  ]);
}

export function registerAuthorizations(program: Command): void {
  withJson(program.command('authorizations').alias('authorizations:list').description('list your API tokens')).action(async (flags: JsonFlags) => {
    const list = await api().get<AuthorizationJson[]>('/oauth/authorizations');
    if (flags.json) return print(json(list));
    if (list.length === 0) return print('No authorizations\n');
    print(table(list, [
      { header: 'Description', get: (a) => a.description },
      { header: 'ID', get: (a) => a.id },
      { header: 'Scope', get: (a) => a.scope.join(',') + (a.app ? ` (${a.app.name})` : '') },
      { header: 'Expires', get: (a) => (a.expires_at ? when(a.expires_at) : '') },
    ]));
  });

  withJson(program.command('authorizations:create').description('create an API token (shown once), e.g. a deploy-only token for CI'))
    .option('-d, --description <text>', 'what the token is for', 'API token')
    .option('-s, --scope <scope>', `what it may do: ${SCOPES.join(', ')}`, 'global')
    .option('-a, --app <app>', 'limit the token to one app')
    .option('-e, --expires-in <seconds>', 'seconds until the token stops working')
    .option('-S, --short', 'print only the token')
    .action(async (flags: JsonFlags & { description: string; scope: string; app?: string; expiresIn?: string; short?: boolean }) => {
      if (!SCOPES.includes(flags.scope)) throw new CliError(`--scope must be one of ${SCOPES.join(', ')}`);
      let expires: number | undefined;
      if (flags.expiresIn !== undefined) {
        expires = Number(flags.expiresIn);
        if (!/^\d+$/.test(flags.expiresIn) || expires < 1) throw new CliError('--expires-in takes whole seconds, e.g. --expires-in 3600');
      }
      const body = { description: flags.description, scope: [flags.scope], ...(flags.app ? { app: flags.app } : {}), ...(expires !== undefined ? { expires_in: expires } : {}) };
      const a = await step('Creating OAuth Authorization', () => api().post<AuthorizationJson>('/oauth/authorizations', body));
      if (flags.json) return print(json(a));
      print(flags.short ? `${a.access_token?.token ?? ''}\n` : show(a));
    });

  withJson(program.command('authorizations:info <id>').description('show one of your API tokens')).action(async (id: string, flags: JsonFlags) => {
    const a = await api().get<AuthorizationJson>(`/oauth/authorizations/${encodeURIComponent(id)}`);
    print(flags.json ? json(a) : show(a));
  });

  program.command('authorizations:revoke <id>').alias('authorizations:destroy').description('revoke an API token (it stops working at once)').action(async (id: string) => {
    await step(`Revoking OAuth Authorization ${id}`, () => api().delete(`/oauth/authorizations/${encodeURIComponent(id)}`));
  });
}
