/** `builds`, `builds:info <id>`, `builds:output <id>`: the builds `git push` ran. */
import type { Command } from 'commander';
import type { AppFlags } from '../app.ts';
import { CliError } from '../errors.ts';
import { ago, header, json, keyValues, print, table, when } from '../output.ts';
import { api, appOf, withApp, withJson, type JsonFlags } from '../shared.ts';
import { parsePositiveInt } from '../../lib/options.ts';

export interface BuildJson {
  id: string;
  status: string;
  created_at: string;
  updated_at?: string;
  user?: { email: string };
  source_blob?: { version?: string | null; commit?: string | null };
  release?: { id?: string; version?: number } | null;
  slug?: { id: string } | null;
  buildpacks?: ({ url?: string; name?: string } | string)[] | null;
  output_stream_url?: string | null;
  failure_message?: string | null;
}

const version = (b: BuildJson) => (b.source_blob?.version ?? b.source_blob?.commit ?? '').slice(0, 7);

export function registerBuilds(program: Command): void {
  withJson(withApp(program.command('builds').alias('builds:list').description('list the builds of an app, newest first')))
    .option('-n, --num <n>', 'how many to show', parsePositiveInt, 15)
    .action(async (flags: AppFlags & JsonFlags & { num: number }) => {
      const app = appOf(flags);
      const list = (await api().get<BuildJson[]>(`/apps/${app}/builds`))
        .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at))
        .slice(0, flags.num);
      if (flags.json) return print(json(list));
      if (list.length === 0) return print(`${app} has no builds yet; deploy with \`git push dynomesh main\`.\n`);
      print(header(`${app} Builds`));
      print(table(list, [
        { header: 'ID', get: (b) => b.id },
        { header: 'Status', get: (b) => b.status },
        { header: 'Commit', get: version },
        { header: 'Release', get: (b) => (b.release?.version ? `v${b.release.version}` : '') },
        { header: 'User', get: (b) => b.user?.email },
        { header: 'Created', get: (b) => `${when(b.created_at)} (${ago(b.created_at)})` },
      ]));
    });

  withJson(withApp(program.command('builds:info <id>').description('show one build'))).action(async (id: string, flags: AppFlags & JsonFlags) => {
    const app = appOf(flags);
    const b = await api().get<BuildJson>(`/apps/${app}/builds/${encodeURIComponent(id)}`);
    if (flags.json) return print(json(b));
    print(header(`Build ${b.id}`));
    print(keyValues([
      ['Status', b.status],
      ['Commit', b.source_blob?.version ?? b.source_blob?.commit ?? ''],
      ['Release', b.release?.version ? `v${b.release.version}` : ''],
      ['By', b.user?.email ?? ''],
      ['Created', when(b.created_at)],
      ['Failure', b.failure_message ?? ''],
    ]));
  });

  withApp(program.command('builds:output <id>').description('print the output of a build')).action(async (id: string, flags: AppFlags) => {
    const app = appOf(flags);
    const client = api();
    const b = await client.get<BuildJson>(`/apps/${app}/builds/${encodeURIComponent(id)}`);
    const url = b.output_stream_url;
    if (!url) throw new CliError(`build ${id} has no output to show`);
    const path = url.startsWith(client.baseUrl) ? url.slice(client.baseUrl.length) : new URL(url).pathname + new URL(url).search;
    const res = await client.raw('GET', path, undefined, { timeoutMs: 0, accept: 'text/plain' });
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) process.stdout.write(chunk);
  });
}
