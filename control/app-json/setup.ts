/**
 * app.json during a build (builder.ts), in Heroku's app-setup order:
 *   1. read and check it right after checkout (a bad one fails the push, line and field named);
 *      the stack must be the app's; on the first deploy, required env vars need a value;
 *   2. on the first deploy: env defaults and generated secrets go to the compile's ENV_DIR
 *      and into the deploy's release; app.json buildpacks build an app that has none set;
 *   3. after compile, on the first deploy: add-ons are provisioned (each attach is its own
 *      release, so DATABASE_URL reaches the release phase and the dynos);
 *   4. once the first release is live: `scripts.postdeploy` runs in a one-off, its output in the push.
 * "First deploy" is a push to an app whose current release has no code. Every step is
 * idempotent (only unset env vars, only add-ons not attached yet), so a first deploy that
 * failed half way is finished by the next push, and none of it repeats after code went live.
 */
import { randomBytes } from 'node:crypto';
import { lstat, readFile, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { EntryOf } from '../../cluster/client.ts';
import { createAddon } from '../addons/addons.ts';
import type { ControlContext } from '../context.ts';
import { ControlError } from '../errors.ts';
import { runAttached } from '../one-off-attach.ts';
import { BuildFailure, info, step, warn } from '../build/compile.ts';
import { AppJsonError, parseAppJson, type AppJson } from './schema.ts';

/** Reads app.json from the checkout; undefined when there is none. A link out of the app is refused. */
export async function loadAppJson(buildDir: string): Promise<AppJson | undefined> {
  const path = join(buildDir, 'app.json');
  const st = await lstat(path).catch(() => undefined);
  if (!st) return undefined;
  if (st.isSymbolicLink()) {
    const real = await realpath(path).catch(() => '');
    if (!real.startsWith((await realpath(buildDir)) + sep)) throw new BuildFailure('app.json is a link to outside the app; make it a regular file');
  }
  if (!st.isFile() && !st.isSymbolicLink()) throw new BuildFailure('app.json is not a file');
  try {
    return parseAppJson(await readFile(path, 'utf8'));
  } catch (err) {
    if (err instanceof AppJsonError) throw new BuildFailure(err.message);
    throw err;
  }
}

export interface SetupInputs {
  appJson: AppJson;
  app: string;
  stack: string;
  firstDeploy: boolean;
  /** The app's config vars now. */
  config: Record<string, string>;
  emit: (s: string) => void;
}

/** Step 1 and 2: checks, and the env vars the first deploy sets (values and generated secrets). */
export function planSetup(i: SetupInputs): { env: Record<string, string> } {
  const { appJson: a, emit } = i;
  emit(step('Reading app.json'));
  if (a.stack !== undefined && a.stack !== i.stack) {
    throw new BuildFailure(`app.json line ${a.lineOf('stack')}, stack: "${a.stack}" is not this app's stack (${i.stack}); remove the field or set it to "${i.stack}"`);
  }
  for (const note of a.ignored) emit(info(`Ignored: ${note}`));
  const env: Record<string, string> = {};
  if (!i.firstDeploy) return { env };
  for (const [key, spec] of Object.entries(a.env)) {
    if (key in i.config) continue;
    if (spec.value !== undefined) env[key] = spec.value;
    else if (spec.generator === 'secret') env[key] = randomBytes(32).toString('hex');
    else if (spec.required) {
      throw new BuildFailure(
        `app.json line ${a.lineOf(`env.${key}`)}, env.${key}: required and has no value${spec.description ? ` (${spec.description})` : ''}; ` +
        `set it with \`dynomesh config:set ${key}=... -a ${i.app}\` and push again`,
      );
    }
  }
  const names = Object.keys(env);
  if (names.length) emit(info(`Setting config vars from app.json: ${names.join(', ')}`));
  return { env };
}

/** Step 3: add-ons app.json asks for that the app does not have yet (same service and attachment name). */
export async function provisionAddons(ctx: ControlContext, app: string, appJson: AppJson, author: string, emit: (s: string) => void): Promise<void> {
  if (!appJson.addons.length) return;
  const have = (await ctx.cluster.list(ctx.cluster.keys.addons(app))).entries as EntryOf<'addon'>[];
  for (const [i, a] of appJson.addons.entries()) {
    const attached = have.find((h) => h.value.service === a.service && (a.as === undefined || h.value.name === a.as.toUpperCase()) && h.value.state === 'provisioned');
    if (attached) continue;
    if (!ctx.addonProviders) throw new BuildFailure(`app.json line ${appJson.lineOf(`addons.${i}`)}: this control plane provisions no add-ons`);
    emit(info(`Provisioning ${a.service}${a.plan ? `:${a.plan}` : ''}${a.as ? ` as ${a.as}` : ''} (app.json)...`));
    try {
      const { addon } = await createAddon(ctx, ctx.addonProviders, app, { service: a.service, ...(a.plan ? { plan: a.plan } : {}), ...(a.as ? { as: a.as } : {}), options: a.options, author });
      emit(info(`  ${addon.addonName ?? addon.id} attached as ${addon.configVars.join(', ')}`));
    } catch (err) {
      if (err instanceof ControlError) throw new BuildFailure(`app.json line ${appJson.lineOf(`addons.${i}`)}, addons.${i}: ${err.message}`);
      throw err;
    }
  }
}

/** Step 4: `scripts.postdeploy` in a one-off on the live release, its output to the pusher; throws when it fails. */
export async function runPostdeploy(ctx: ControlContext, app: string, release: number, command: string, timeoutMs: number, emit: (c: string | Buffer) => void): Promise<void> {
  emit(step('Running postdeploy script (app.json, first deploy only)...'));
  const o = await runAttached(ctx, {
    app, release, command, type: 'postdeploy', onOutput: (c) => emit(c), timeoutMs,
    timeoutMessage: `timed out after ${Math.round(timeoutMs / 1000)} s and was stopped`,
  }).catch((err: Error) => ({ exitCode: null, error: err.message }));
  if (o.error === undefined) return emit(info('Postdeploy script done.'));
  emit(warn(`Postdeploy script failed (${o.error}).`));
  throw new BuildFailure(`postdeploy script failed (${o.error}); v${release} is live, and the script does not run again: fix it and run it with \`dynomesh run -a ${app} -- ${command}\``);
}
