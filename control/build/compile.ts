/**
 * The slug compiler's middle: pushed commit -> build dir -> buildpacks -> process
 * types, as Heroku's pre-receive does it: fresh checkout, `.slugignore`, then
 * `bin/detect BUILD_DIR`, `bin/compile BUILD_DIR CACHE_DIR ENV_DIR`, `bin/release
 * BUILD_DIR` per buildpack; the Procfile's types override the buildpacks' defaults.
 */
import type { Egress } from '../../lib/egress.ts';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, realpath, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { BUILTIN_ORDER, fetchBuildpack, type Buildpack } from './buildpacks.ts';
import { parseProcfile } from './procfile.ts';
import { defaultProcessTypes } from './release-yaml.ts';
import { runStep, type StepJail } from './run-step.ts';
import type { BuildUser } from './sandbox.ts';
import { fetchSource, SourceError, type BuildSource } from './source.ts';
import { slugignore } from './slugignore.ts';
import { isProcessType } from '../../cluster/names.ts';

/** A failure the pusher should read as it is (no stack, one line). */
export class BuildFailure extends Error {
  override name = 'BuildFailure';
}

export interface CompileInput {
  source: BuildSource;
  /** SOURCE_VERSION for the buildpacks (the commit id). */
  version: string;
  /** Scratch space for this build (build dir, env dir, fetched buildpacks). */
  workDir: string;
  /** Persists per app between builds. */
  cacheDir: string;
  /** The app's configured buildpacks (empty: detect among the built-ins). */
  buildpacks: string[];
  config: Record<string, string>;
  stack: string;
  signal: AbortSignal;
  emit: (chunk: string | Buffer) => void;
  /** The user build steps run as (undefined: the control's own). */
  user?: BuildUser | undefined;
  /** Hands files to that user (chown -R); a no-op without one. */
  give: (...paths: string[]) => Promise<void>;
  /** Runs each step in its own container (sandbox.ts); undefined: on the host. */
  jail?: StepJail | undefined;
  /** The outbound guard the source URL is fetched through (default: no private destination). */
  egress?: Egress | undefined;
  /** The one directory buildpack paths may name (`--buildpack-dir`). */
  buildpackDir?: string | undefined;
  /** Called once the source is checked out (app.json): may replace the buildpacks and add config vars for ENV_DIR. */
  prepare?: (buildDir: string) => Promise<{ buildpacks?: string[]; config?: Record<string, string> }>;
}

export interface Compiled {
  buildDir: string;
  processTypes: Record<string, string>;
  /** Names the buildpacks' detect printed, in order (`Node.js`). */
  detected: string[];
  buildpacks: string[];
}

const asUser = (u: BuildUser | undefined, jail?: StepJail) => ({ ...(u ? { uid: u.uid, gid: u.gid } : {}), jail });

export const step = (s: string) => `-----> ${s}\n`;
export const info = (s: string) => `       ${s}\n`;
export const warn = (s: string) => ` !     ${s}\n`;

/** What a buildpack's processes see: nothing from the control's own environment but the toolchain's essentials. */
function stepEnv(input: CompileInput): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: join(input.workDir, 'home'),
    LANG: 'C.UTF-8',
    STACK: input.stack,
    SOURCE_VERSION: input.version,
  };
  const pass = /^(https?_proxy|no_proxy|HTTPS?_PROXY|NO_PROXY|PYENV_ROOT|PYENV_VERSION|TMPDIR|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|npm_config_registry|PIP_INDEX_URL)$/;
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && pass.test(k)) env[k] = v;
  return env;
}

async function detect(bp: Buildpack, buildDir: string, env: Record<string, string>, signal: AbortSignal, user: BuildUser | undefined, jail: StepJail | undefined): Promise<string | undefined> {
  const r = await runStep(join(bp.dir, 'bin', 'detect'), [buildDir], { cwd: buildDir, env, signal, captureStdout: true, ...asUser(user, jail) });
  if (r.code !== 0) return undefined;
  return r.stdout.trim().split('\n')[0]?.trim() || bp.url;
}

/**
 * A file of the build dir, read by the control (possibly root) after the build user
 * had the dir: a link that resolves outside it is refused, so a build cannot make
 * the control read another file into the release.
 */
async function readInside(root: string, name: string): Promise<string | undefined> {
  const path = join(root, name);
  const st = await lstat(path).catch(() => undefined);
  if (!st) return undefined;
  if (st.isSymbolicLink()) {
    const real = await realpath(path).catch(() => '');
    const base = await realpath(root);
    if (!real.startsWith(base + sep)) throw new BuildFailure(`${name} is a link to outside the app; make it a regular file`);
  }
  return readFile(path, 'utf8');
}

/**
 * A build, stage by stage: check out the source (with .slugignore and ENV_DIR), choose the
 * buildpacks, run them (compile, then release for default process types), and discover
 * the process types from the Procfile and those defaults.
 */
export async function compile(input: CompileInput): Promise<Compiled> {
  const buildDir = join(input.workDir, 'app');
  const envDir = join(input.workDir, 'env');
  const env = stepEnv(input);
  await mkdir(input.workDir, { recursive: true, mode: 0o700 });
  await mkdir(env.HOME!, { recursive: true });
  await mkdir(input.cacheDir, { recursive: true, mode: 0o700 });
  const buildpacks = await checkout(input, buildDir, envDir);
  const chosen = await chooseBuildpacks(input, buildpacks, buildDir, env);
  const defaults = await runBuildpacks(input, chosen, buildDir, envDir, env);
  const processTypes = await discoverProcessTypes(input.emit, buildDir, defaults);
  return { buildDir, processTypes, detected: chosen.map((c) => c.name), buildpacks: chosen.map((c) => c.bp.url) };
}

/** The source in `buildDir`, .slugignore applied, config vars in ENV_DIR; returns the buildpack list to use. */
async function checkout(input: CompileInput, buildDir: string, envDir: string): Promise<string[]> {
  const { emit, signal } = input;
  try {
    await fetchSource(input.source, buildDir, input.workDir, signal, input.egress);
  } catch (err) {
    if (signal.aborted) throw err;
    if (err instanceof SourceError) throw new BuildFailure(err.message);
    throw new BuildFailure(`could not check out ${input.version.slice(0, 7)}: ${(err as Error).message}`);
  }
  const prepared = (await input.prepare?.(buildDir)) ?? {};
  const config = { ...input.config, ...prepared.config };
  const ignored = await slugignore(buildDir);
  for (const w of ignored.warnings) emit(warn(w));
  if (ignored.removed.length) emit(info(`.slugignore removed ${ignored.removed.length} path${ignored.removed.length === 1 ? '' : 's'}: ${ignored.removed.slice(0, 5).join(', ')}${ignored.removed.length > 5 ? ', ...' : ''}`));

  // ENV_DIR: one file per config var, as the buildpack API says; readable by the build only.
  await mkdir(envDir, { recursive: true, mode: 0o700 });
  for (const [k, v] of Object.entries(config)) await writeFile(join(envDir, k), v, { mode: 0o600 });
  return prepared.buildpacks ?? input.buildpacks;
}

interface Chosen {
  bp: Buildpack;
  /** What its bin/detect printed. */
  name: string;
}

/** Which buildpacks run: the app's list (each must detect), or the first built-in that detects. */
async function chooseBuildpacks(input: CompileInput, buildpacks: string[], buildDir: string, env: Record<string, string>): Promise<Chosen[]> {
  const { emit, signal } = input;
  const candidates: Buildpack[] = [];
  const refs = buildpacks.length ? buildpacks : [...BUILTIN_ORDER];
  // Custom buildpacks are copied or cloned as the build user: a path or file:// URL reaches only what that user may read.
  await input.give(input.workDir, input.cacheDir);
  const as = input.user ? { uid: input.user.uid, gid: input.user.gid, home: env.HOME! } : undefined;
  for (const [i, ref] of refs.entries()) {
    try {
      candidates.push(await fetchBuildpack(ref, input.workDir, i, signal, as, input.jail, { buildpackDir: input.buildpackDir, egress: input.egress }));
    } catch (err) {
      if (signal.aborted) throw err;
      throw new BuildFailure((err as Error).message);
    }
  }
  // Everything the steps touch now belongs to the build user.
  await input.give(input.workDir, input.cacheDir);
  const chosen: Chosen[] = [];
  if (buildpacks.length) {
    for (const bp of candidates) {
      const name = await detect(bp, buildDir, env, signal, input.user, input.jail);
      if (!name) throw new BuildFailure(`App not compatible with buildpack: ${bp.url} (its bin/detect failed)`);
      chosen.push({ bp, name });
    }
    emit(step(`Using buildpack${chosen.length > 1 ? 's' : ''}: ${chosen.map((c) => c.bp.url).join(', ')}`));
    return chosen;
  }
  for (const bp of candidates) {
    const detected = await detect(bp, buildDir, env, signal, input.user, input.jail);
    if (detected) return [{ bp, name: detected }];
  }
  throw new BuildFailure(
    'No default language could be detected for this app: add a package.json (Node.js), requirements.txt or pyproject.toml (Python), ' +
    'static.json or index.html (static site) or a Procfile, or set a buildpack with PUT /apps/<app>/buildpack-installations',
  );
}

/** Each chosen buildpack's bin/compile, then its bin/release; returns the default process types they declared. */
async function runBuildpacks(input: CompileInput, chosen: Chosen[], buildDir: string, envDir: string, env: Record<string, string>): Promise<Record<string, string>> {
  const { emit, signal } = input;
  const defaults: Record<string, string> = {};
  const exports: string[] = [];
  for (const { bp, name } of chosen) {
    emit(step(`${name} app detected`));
    // Multi-buildpack API: each earlier buildpack's `export` file is sourced before the next compile.
    const compileBin = join(bp.dir, 'bin', 'compile');
    const [file, args] = exports.length
      ? ['/bin/sh', ['-c', `${exports.map((_, i) => `. "$EXPORT_${i}"`).join('; ')}; exec "$0" "$@"`, compileBin, buildDir, input.cacheDir, envDir]]
      : [compileBin, [buildDir, input.cacheDir, envDir]];
    const compileEnv = { ...env, ...Object.fromEntries(exports.map((f, i) => [`EXPORT_${i}`, f])) };
    const r = await runStep(file, args, { cwd: buildDir, env: compileEnv, signal, onOutput: emit, ...asUser(input.user, input.jail) });
    if (existsSync(join(bp.dir, 'export'))) exports.push(join(bp.dir, 'export'));
    if (r.code !== 0) throw new BuildFailure(`Push rejected, failed to compile ${name} app.`);
    const release = join(bp.dir, 'bin', 'release');
    if (!existsSync(release)) continue;
    const rel = await runStep(release, [buildDir], { cwd: buildDir, env, signal, onOutput: emit, captureStdout: true, ...asUser(input.user, input.jail) });
    if (rel.code !== 0) throw new BuildFailure(`${bp.url}: bin/release exited with ${rel.code ?? rel.signal}`);
    try {
      Object.assign(defaults, defaultProcessTypes(rel.stdout));
    } catch (err) {
      throw new BuildFailure(`${bp.url}: bin/release printed YAML dynomesh cannot read: ${(err as Error).message}`);
    }
  }
  return defaults;
}

/** The Procfile's types over the buildpacks' defaults. */
async function discoverProcessTypes(emit: CompileInput['emit'], buildDir: string, defaults: Record<string, string>): Promise<Record<string, string>> {
  emit(step('Discovering process types'));
  const procfileText = await readInside(buildDir, 'Procfile');
  const procfile = procfileText === undefined ? { types: {}, problems: [] } : parseProcfile(procfileText);
  if (procfile.problems.length) throw new BuildFailure(`Procfile: ${procfile.problems.join('; ')}`);
  const badDefault = Object.keys(defaults).find((t) => !isProcessType(t));
  if (badDefault) throw new BuildFailure(`bin/release declared the process type "${badDefault}", which is not valid: use lowercase letters, digits and _`);
  const processTypes = { ...defaults, ...procfile.types };
  if (procfileText !== undefined) emit(info(`Procfile declares types     -> ${Object.keys(procfile.types).join(', ') || '(none)'}`));
  const fromDefaults = Object.keys(defaults).filter((t) => !(t in procfile.types));
  if (fromDefaults.length) emit(info(`Default types for buildpack -> ${fromDefaults.join(', ')}`));
  if (!processTypes.web) emit(warn('No web process type: add a Procfile with "web: <command>" to receive HTTP traffic'));
  return processTypes;
}
