/**
 * `ps`, `ps:scale`, `ps:restart`, `ps:stop`. Scaling waits until the dynos it
 * asked for are up (a progress line on stderr), as people expect after
 * `ps:scale web=3`; `--no-wait` returns at once, as Heroku does.
 */
import { Option, type Command } from 'commander';
import type { AppFlags } from '../app.ts';
import { parseScaleArgs, resolveScale } from '../args.ts';
import { ApiClient } from '../api.ts';
import { CliError } from '../errors.ts';
import { ago, header, json, print, when } from '../output.ts';
import { api, appOf, hex, ProgressLine, step, withApp, withJson, type JsonFlags } from '../shared.ts';
import { parseDuration } from '../../lib/options.ts';

export interface DynoJson {
  name: string;
  type: string;
  state: string;
  size: string;
  command: string | null;
  release: { version: number };
  host: string | null;
  node: string;
  restarts: number;
  message: string | null;
  since: string;
}

export interface FormationJson {
  type: string;
  quantity: number;
  size: string;
  command: string;
}

const sizeName = (s: string) => s.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase()).replace(/x$/, 'X');

/** Dynos grouped by process type, as `heroku ps` shows them. */
export function renderPs(dynos: readonly DynoJson[], formation: readonly FormationJson[]): string {
  if (dynos.length === 0) return 'No dynos are running. Scale up with `dynomesh ps:scale web=1`.\n';
  const out: string[] = [];
  const types = [...new Set(dynos.map((d) => d.type))];
  for (const type of types) {
    const group = dynos.filter((d) => d.type === type);
    const f = formation.find((x) => x.type === type);
    const command = f?.command ?? group[0]!.command ?? '';
    out.push(header(`${type} (${sizeName(group[0]!.size)}): ${command} (${group.length})`).trimEnd());
    for (const d of group) {
      // Why a dyno is still starting (a failing health check) reads with its state: `starting (health check failing: ...)`.
      const why = d.state === 'starting' && d.message ? d.message : '';
      const extra = [d.restarts ? `${d.restarts} restarts` : '', why ? '' : d.message ?? ''].filter(Boolean).join('; ');
      out.push(`${d.name}: ${d.state}${why ? ` (${why})` : ''} ${when(d.since)} (${ago(d.since)}) v${d.release.version} on ${d.node}${d.command && d.type === 'run' ? ` "${d.command}"` : ''}${extra ? ` - ${extra}` : ''}`);
    }
    out.push('');
  }
  return out.join('\n');
}

export interface ScaleTarget {
  type: string;
  quantity: number;
}

/** How far the dynos are from the targets: a progress text, or undefined when every target is met. */
export function scaleProgress(dynos: readonly DynoJson[], targets: readonly ScaleTarget[]): { text: string; done: boolean; crashed: string[] } {
  const parts: string[] = [];
  let done = true;
  const crashed: string[] = [];
  for (const t of targets) {
    const mine = dynos.filter((d) => d.type === t.type);
    const up = mine.filter((d) => d.state === 'up').length;
    for (const d of mine) if (d.state === 'crashed') crashed.push(d.name);
    if (up !== t.quantity || mine.length !== t.quantity) done = false;
    parts.push(`${t.type} ${up}/${t.quantity} up${mine.length > t.quantity ? ` (${mine.length - t.quantity} stopping)` : ''}`);
  }
  return { text: parts.join(', '), done, crashed };
}

export async function waitForDynos(client: ApiClient, app: string, targets: readonly ScaleTarget[], timeoutMs: number): Promise<void> {
  const line = new ProgressLine();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dynos = await client.get<DynoJson[]>(`/apps/${app}/dynos`);
    const p = scaleProgress(dynos, targets);
    if (p.done) {
      line.done(`Dynos are up: ${p.text}`);
      return;
    }
    line.update(`Waiting for dynos: ${p.text}${p.crashed.length ? `; crashed: ${p.crashed.join(', ')}` : ''}`);
    if (Date.now() > deadline) {
      line.done(`Still waiting: ${p.text}`);
      throw new CliError(`the dynos were not all up within ${Math.round(timeoutMs / 1000)}s (${p.text}); see \`dynomesh ps -a ${app}\` and \`dynomesh logs -a ${app}\``);
    }
    await new Promise((r) => setTimeout(r, 400));
  }
}

export function registerPs(program: Command): void {
  withJson(withApp(program.command('ps').alias('ps:list').description('list the dynos of an app'))).action(async (flags: AppFlags & JsonFlags) => {
    const app = appOf(flags);
    const client = api();
    const [dynos, formation] = await Promise.all([client.get<DynoJson[]>(`/apps/${app}/dynos`), client.get<FormationJson[]>(`/apps/${app}/formation`)]);
    if (flags.json) return print(json(dynos));
    print(renderPs(dynos, formation));
  });

  withJson(withApp(program.command('ps:scale [changes...]').alias('scale').description('scale process types: web=3 worker=1, web+2, web-1, web=2:standard-2x')))
    .option('--no-wait', 'return without waiting for the dynos to be up')
    .addOption(new Option('--wait-timeout <duration>', 'how long to wait for the dynos (e.g. 30s, 5m)').argParser(parseDuration).default(120_000, '2m'))
    .action(async (changes: string[], flags: AppFlags & JsonFlags & { wait: boolean; waitTimeout: number }) => {
      const app = appOf(flags);
      const client = api();
      if (changes.length === 0) {
        const formation = await client.get<FormationJson[]>(`/apps/${app}/formation`);
        if (flags.json) return print(json(formation));
        return print(`${formation.map((f) => `${f.type}=${f.quantity}:${sizeName(f.size)}`).join(' ') || 'No process types (deploy code with a Procfile first).'}\n`);
      }
      const args = parseScaleArgs(changes);
      const current = new Map<string, number>();
      if (args.some((a) => a.delta !== undefined)) {
        for (const f of await client.get<FormationJson[]>(`/apps/${app}/formation`)) current.set(f.type, f.quantity);
      }
      const updates = resolveScale(args, current);
      const result = await step('Scaling dynos', () => client.patch<FormationJson[]>(`/apps/${app}/formation`, { updates }),
        (list) => `now running ${list.map((f) => `${f.type} at ${f.quantity}:${sizeName(f.size)}`).join(', ')}`);
      if (flags.wait) await waitForDynos(client, app, result.map((f) => ({ type: f.type, quantity: f.quantity })), flags.waitTimeout);
      if (flags.json) print(json(result));
    });

  withApp(program.command('ps:restart [dyno]').alias('restart').description('restart every dyno, one process type (web) or one dyno (web.1)'))
    .action(async (dyno: string | undefined, flags: AppFlags) => {
      const app = appOf(flags);
      const path = dyno ? `/apps/${app}/dynos/${encodeURIComponent(dyno)}` : `/apps/${app}/dynos`;
      await step(`Restarting ${dyno ? `${dyno} ${dyno.includes('.') ? 'dyno' : 'dynos'}` : 'dynos'} on ${hex(app)}`, () => api().delete<{ restarted: number }>(path),
        (r) => `${r.restarted} restarting`);
    });

  withApp(program.command('ps:stop <dyno>').alias('stop').description('stop one dyno (web.1) or a process type; formation dynos are started again fresh'))
    .action(async (dyno: string, flags: AppFlags) => {
      const app = appOf(flags);
      await step(`Stopping ${dyno} ${dyno.includes('.') ? 'dyno' : 'dynos'} on ${hex(app)}`, () => api().post<{ stopped: number }>(`/apps/${app}/dynos/${encodeURIComponent(dyno)}/actions/stop`),
        (r) => `${r.stopped} stopped`);
    });
}
