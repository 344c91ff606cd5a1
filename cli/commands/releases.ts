/** `releases`, `releases:info [vN]`, `releases:output [vN]`, `rollback [vN]`. */
import type { Command } from 'commander';
import type { AppFlags } from '../app.ts';
import { parseReleaseRef } from '../args.ts';
import { CliError } from '../errors.ts';
import { ago, header, info, json, keyValues, print, table, when } from '../output.ts';
import { awaitReleasePhase, followReleaseOutput } from '../release-output.ts';
import { api, appOf, hex, step, withApp, withJson, type JsonFlags } from '../shared.ts';
import { parsePositiveInt } from '../../lib/options.ts';

export interface ReleaseJson {
  id: string;
  version: number;
  description: string;
  status: string;
  current: boolean;
  created_at: string;
  user: { email: string };
  slug: { id: string; checksum: string; size: number } | null;
  process_types: Record<string, string>;
  release_phase?: { dyno: string | null; exit_code: number | null; error: string | null } | null;
}

/** Heroku's wording for a release whose release command has not succeeded. */
export function describeRelease(r: ReleaseJson): string {
  if (r.status === 'failed') return `${r.description} (release command failed)`;
  if (r.status === 'pending') return `${r.description} (release command executing)`;
  return r.description;
}

export function registerReleases(program: Command): void {
  withJson(withApp(program.command('releases').alias('releases:list').description('list the releases of an app, newest first')))
    .option('-n, --num <n>', 'how many to show', parsePositiveInt, 15)
    .action(async (flags: AppFlags & JsonFlags & { num: number }) => {
      const app = appOf(flags);
      const list = (await api().get<ReleaseJson[]>(`/apps/${app}/releases`)).sort((a, b) => b.version - a.version).slice(0, flags.num);
      if (flags.json) return print(json(list));
      const current = list.find((r) => r.current);
      print(header(`${app} Releases${current ? ` - Current: v${current.version}` : ''}`));
      print(table(list, [
        { header: '', get: (r) => `v${r.version}` },
        { header: 'Description', get: (r) => describeRelease(r) },
        { header: 'User', get: (r) => r.user.email },
        { header: 'Created', get: (r) => `${when(r.created_at)} (${ago(r.created_at)})` },
      ]));
    });

  withJson(withApp(program.command('releases:info [release]').description('show one release (default: the current one)')))
    .action(async (ref: string | undefined, flags: AppFlags & JsonFlags) => {
      const app = appOf(flags);
      const client = api();
      let rel: ReleaseJson;
      if (ref !== undefined) rel = await client.get<ReleaseJson>(`/apps/${app}/releases/${parseReleaseRef(ref)}`);
      else {
        const cur = (await client.get<ReleaseJson[]>(`/apps/${app}/releases`)).find((r) => r.current);
        if (!cur) throw new CliError(`${app} has no releases yet`);
        rel = cur;
      }
      const config = await client.get<Record<string, string>>(`/apps/${app}/releases/${rel.version}/config-vars`);
      if (flags.json) return print(json({ ...rel, config_vars: config }));
      print(header(`Release v${rel.version}${rel.current ? ' (current)' : ''}`));
      print(keyValues([
        ['Description', describeRelease(rel)],
        ...(rel.release_phase ? [['Release command', rel.release_phase.error ?? (rel.status === 'pending' ? 'running' : `exit status ${rel.release_phase.exit_code ?? '?'}`)] as [string, string]] : []),
        ['By', rel.user.email],
        ['When', `${when(rel.created_at)} (${ago(rel.created_at)})`],
        ['Slug', rel.slug ? `${rel.slug.checksum} (${(rel.slug.size / 1024).toFixed(1)} KB)` : 'none'],
        ['Processes', Object.entries(rel.process_types).map(([t, c]) => `${t}: ${c}`).join('; ') || 'none'],
      ]));
      print('\n' + header(`v${rel.version} Config Vars`));
      print(keyValues(Object.keys(config).sort().map((k) => [k, config[k]!])));
    });

  withApp(program.command('releases:output [release]').description('show the output of a release command (the `release:` process type); follows it while it runs'))
    .action(async (ref: string | undefined, flags: AppFlags) => {
      const app = appOf(flags);
      const client = api();
      let version: number;
      if (ref !== undefined) version = parseReleaseRef(ref);
      else {
        const list = await client.get<ReleaseJson[]>(`/apps/${app}/releases`);
        const last = list.filter((r) => r.release_phase).sort((a, b) => b.version - a.version)[0];
        if (!last) throw new CliError(`no release of ${app} ran a release command`);
        version = last.version;
      }
      const r = await followReleaseOutput(client, app, version);
      if (r.status === 'failed') {
        process.exitCode = 1;
        if (r.error && !r.output.includes(r.error)) info(r.error);
      }
    });

  withJson(withApp(program.command('rollback [release]').alias('releases:rollback').description('roll back to an earlier release (default: the one before the current); makes a new release')))
    .action(async (ref: string | undefined, flags: AppFlags & JsonFlags) => {
      const app = appOf(flags);
      const client = api();
      let target: number;
      if (ref !== undefined) target = parseReleaseRef(ref);
      else {
        const list = await client.get<ReleaseJson[]>(`/apps/${app}/releases`);
        const cur = list.find((r) => r.current);
        // The release that served before the current one: failed ones never served.
        const prev = cur && list.filter((r) => r.version < cur.version && r.status !== 'failed').sort((a, b) => b.version - a.version)[0];
        if (!prev) throw new CliError(`${app} has no release before the current one to roll back to`);
        target = prev.version;
      }
      const rel = await step(`Rolling back ${hex(app)} to v${target}`, () => client.post<ReleaseJson>(`/apps/${app}/releases`, { release: String(target) }), (r) => `v${r.version}`);
      if (flags.json) return print(json(rel));
      if (rel.status === 'pending') await awaitReleasePhase(client, app, rel.version);
      info(`Rollback to v${target} complete, v${rel.version}; the dynos restart on it now.`);
    });
}
