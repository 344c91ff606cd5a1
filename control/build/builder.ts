/**
 * One build per push: claims the app's build slot (in this process and in etcd),
 * compiles, packs the slug off the event loop, stores it, and releases it with
 * `deployRelease`. Output goes to the pusher as it happens and to a log file the
 * builds API serves. Anything that fails leaves no slug and no release behind,
 * and the pre-receive hook then rejects the ref update.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Build, Release } from '../../cluster/records.ts';
import { unseal } from '../../cluster/sealed.ts';
import type { ControlContext } from '../context.ts';
import { webUrl } from '../context.ts';
import { deployRelease, ReleasePendingError, type Deploy } from '../releases.ts';
import { SlugTooLargeError } from '../slugs/store.ts';
import { BuildFailure, compile, info, step, warn } from './compile.ts';
import { BuildOutput } from './output.ts';
import { loadAppJson, planSetup, provisionAddons, runPostdeploy } from '../app-json/setup.ts';
import type { AppJson } from '../app-json/schema.ts';
import { packPool, type PackPool } from './pack-pool.ts';
import { claimBuild, failOrphanedBuilds, pruneBuilds, saveBuild } from './records.ts';
import { replicateSlug } from './replicate.ts';
import { Sandbox, type BuildIsolation, type BuildUser } from './sandbox.ts';
import type { BuildSource } from './source.ts';

export interface BuilderOptions {
  dataDir: string;
  /** This control instance's member id, stored on each build. */
  memberId: string;
  /** Compile time limit (Heroku: 15 min). */
  timeoutMs?: number;
  /** Compressed slug size limit (Heroku: 500 MB). */
  maxSlugBytes?: number;
  /**
   * Where builds run and build caches persist. Default: `<dataDir>/build`, or
   * /var/tmp/dynomesh-builds as root (build users must pass through it; the data dir is 0700).
   */
  buildDir?: string;
  /** Build steps in containers (sandbox.ts); default off (embedding, unit tests). */
  isolation?: BuildIsolation;
}

export interface BuildRequest {
  app: string;
  /** The pushed commit, or a source tarball (Build API). */
  source: BuildSource;
  /** Recorded as the build's source version: the commit id, or source_blob.version ('' when none). */
  version: string;
  /** The pushed ref (`refs/heads/main`), for git builds. */
  ref?: string;
  user: string;
  /** This build's buildpacks instead of the app's (Build API `buildpacks`). */
  buildpacks?: string[];
  /** The pusher's side (`remote:` lines). */
  out: (chunk: Buffer) => void;
  /** Aborted when the push goes away. */
  signal?: AbortSignal;
  /** Called once the build is recorded and running (the Build API answers then). */
  onStarted?: (build: Build) => void;
}

export interface BuildResult {
  ok: boolean;
  build?: Build;
  release?: Release;
}

export const DEFAULT_BUILD_TIMEOUT_MS = 15 * 60_000;
export const DEFAULT_MAX_SLUG_BYTES = 500 * 1024 * 1024;

const human = (n: number) => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)}M` : `${Math.max(1, Math.round(n / 1024))}K`);
const minutes = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000} minute${ms === 60_000 ? '' : 's'}` : `${Math.round(ms / 1000)} s`);

/** Heroku's "Deploy de63889" for a commit; "Deploy v1.2" for another source version; the slug's id when there is none. */
function deployDescription(version: string): string | undefined {
  if (/^[0-9a-f]{40}$/.test(version)) return `Deploy ${version.slice(0, 7)}`;
  return version ? `Deploy ${version}` : undefined;
}

export class Builder {
  private readonly active = new Map<string, { build: Build; output?: BuildOutput; abort: AbortController }>();
  private pool: PackPool | undefined;
  readonly timeoutMs: number;
  readonly maxSlugBytes: number;

  readonly sandbox: Sandbox;

  constructor(private readonly ctx: ControlContext, private readonly opts: BuilderOptions) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS;
    this.maxSlugBytes = opts.maxSlugBytes ?? DEFAULT_MAX_SLUG_BYTES;
    const asRoot = process.getuid?.() === 0;
    this.sandbox = new Sandbox(opts.buildDir ?? (asRoot ? '/var/lib/dynomesh/builds' : join(opts.dataDir, 'build')), ctx.log.child({ component: 'build' }), asRoot);
  }

  /** Starts build containers (BuilderOptions.isolation); throws when asked for and the host cannot. */
  start(): Promise<void> {
    return this.sandbox.start(this.opts.isolation);
  }

  /** Fails the builds a previous run of this instance left pending (in the background; logs what it did). */
  recover(): void {
    void failOrphanedBuilds(this.ctx.cluster, this.opts.memberId).then(
      (n) => n && this.ctx.log.warn({ builds: n }, 'orphaned-builds-failed'),
      (err) => this.ctx.log.warn({ err: (err as Error).message }, 'orphaned-builds-check-failed'),
    );
  }

  private async prune(app: string): Promise<void> {
    for (const b of await pruneBuilds(this.ctx.cluster, app)) {
      if (b.control === undefined || b.control === this.opts.memberId) await rm(this.outputPath(app, b.id), { force: true });
    }
  }

  outputPath(app: string, id: string): string {
    return join(this.opts.dataDir, 'builds', app, `${id}.log`);
  }

  /** The live output of a running build on this instance. */
  liveOutput(id: string): BuildOutput | undefined {
    for (const a of this.active.values()) if (a.build.id === id) return a.output;
    return undefined;
  }

  async run(req: BuildRequest): Promise<BuildResult> {
    const { app } = req;
    const log = this.ctx.log.child({ app, version: req.version.slice(0, 12) });
    const running = this.active.get(app);
    if (running) {
      req.out(Buffer.from(warn(`Another build of ${app} is in progress (build ${running.build.id}, pushed by ${running.build.user}); wait for it to finish, then push again.`)));
      return { ok: false };
    }
    const build: Build = {
      id: randomUUID(), app, status: 'pending', commit: req.version, buildpack: '', slug: null, release: null,
      createdAt: Date.now(), finishedAt: null, user: req.user, control: this.opts.memberId, ...(req.ref ? { ref: req.ref } : {}),
    };
    const abort = new AbortController();
    const slot: { build: Build; output?: BuildOutput; abort: AbortController } = { build, abort };
    this.active.set(app, slot); // before any await, so a second push on this instance is refused at once
    try {
      const other = await claimBuild(this.ctx.cluster, build, this.timeoutMs + 60_000);
      if (other) {
        this.active.delete(app);
        req.out(Buffer.from(warn(`Another build of ${app} is in progress (build ${other.id}, pushed by ${other.user}); wait for it to finish, then push again.`)));
        return { ok: false };
      }
    } catch (err) {
      this.active.delete(app);
      log.error({ err: (err as Error).message }, 'build-claim-failed');
      req.out(Buffer.from(warn('The cluster store (etcd) is unreachable, so the build cannot start; nothing was changed. Try again shortly.')));
      return { ok: false };
    }

    const output = new BuildOutput(this.outputPath(app, build.id));
    slot.output = output;
    req.onStarted?.(build);
    this.ctx.events?.build(app, 'started', req.user);
    const emit = (chunk: string | Buffer) => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      output.write(b);
      req.out(b);
    };
    const timer = setTimeout(() => abort.abort(new BuildFailure(`Build timed out: compiling took longer than the ${minutes(this.timeoutMs)} limit.`)), this.timeoutMs);
    const onCancel = () => abort.abort(new BuildFailure('The push was cancelled by the client; nothing was released.'));
    req.signal?.addEventListener('abort', onCancel, { once: true });
    const workDir = this.sandbox.workDir(build.id);
    log.info({ build: build.id, user: req.user }, 'build-started');
    let release: Release | undefined;
    try {
      release = await this.steps(req, build, workDir, emit, abort.signal, () => clearTimeout(timer));
      build.status = 'succeeded';
      build.release = release.version;
      log.info({ build: build.id, release: release.version, slug: build.slug?.sha256 }, 'build-succeeded');
    } catch (err) {
      const reason = abort.signal.aborted ? (abort.signal.reason as Error) : (err as Error);
      const known = reason instanceof BuildFailure || reason instanceof SlugTooLargeError;
      build.status = 'failed';
      build.slug = null;
      build.error = known ? reason.message : `internal error: ${reason.message}`;
      emit(warn(build.error));
      emit('\n' + warn('Push failed'));
      log.warn({ build: build.id, err: reason.message, ...(known ? {} : { stack: reason.stack }) }, 'build-failed');
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onCancel);
      build.finishedAt = Date.now();
      this.ctx.events?.build(app, build.status === 'succeeded' ? 'succeeded' : 'failed');
      await output.end();
      await saveBuild(this.ctx.cluster, build).catch((err) => log.error({ build: build.id, err: (err as Error).message }, 'build-record-failed'));
      this.active.delete(app);
      await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
      await rm(join(this.sandbox.root, `${build.id}.slug.tgz`), { force: true }).catch(() => undefined);
      await this.prune(app).catch((err) => log.warn({ err: (err as Error).message }, 'build-prune-failed'));
    }
    return { ok: build.status === 'succeeded', build, ...(release ? { release } : {}) };
  }

  private async steps(req: BuildRequest, build: Build, workDir: string, emit: (c: string | Buffer) => void, signal: AbortSignal, stopClock: () => void): Promise<Release> {
    const { cluster, clusterKey } = this.ctx;
    const k = cluster.keys;
    const [appEntry, cfg] = await Promise.all([cluster.get(k.app(req.app)), cluster.get(k.config(req.app))]);
    if (!appEntry) throw new BuildFailure(`app ${req.app} no longer exists`);
    const app = appEntry.value;
    emit(step(`Building on the ${app.stack} stack`));
    let user: BuildUser | undefined;
    try {
      user = await this.sandbox.userFor(req.app);
    } catch (err) {
      throw new BuildFailure((err as Error).message);
    }
    const config = cfg ? unseal(clusterKey, cfg.value.sealed) : {};
    // app.json: read right after checkout; its one-time parts apply while no code has gone live yet.
    const cur = await cluster.get(k.current(req.app));
    const firstDeploy = !(cur && (await cluster.get(k.release(req.app, cur.value.version)))?.value.slug);
    let appJson: AppJson | undefined;
    let setupEnv: Record<string, string> = {};
    const prepare = async (dir: string) => {
      appJson = await loadAppJson(dir);
      if (!appJson) return {};
      setupEnv = planSetup({ appJson, app: req.app, stack: app.stack, firstDeploy, config, emit }).env;
      // app.json buildpacks build an app that has none of its own (and a push, not a Build API call that names them).
      const useBuildpacks = !req.buildpacks && !app.buildpacks.length && appJson.buildpacks.length ? appJson.buildpacks : undefined;
      return { config: setupEnv, ...(useBuildpacks ? { buildpacks: useBuildpacks } : {}) };
    };
    const compiled = await compile({
      source: req.source, version: req.version, workDir, prepare,
      cacheDir: this.sandbox.cacheDir(req.app),
      buildpacks: req.buildpacks ?? app.buildpacks, config,
      stack: app.stack, signal, emit,
      user, give: (...paths) => this.sandbox.give(user, ...paths),
      jail: this.sandbox.jail(build.id, user, workDir, this.sandbox.cacheDir(req.app)),
      egress: this.ctx.egress,
      buildpackDir: this.ctx.buildpackDir,
    });
    build.buildpack = compiled.buildpacks.join(',');

    emit(step('Compressing...'));
    // Outside the work dir the build user owns, so nothing it left running can swap the file under us.
    const file = join(this.sandbox.root, `${build.id}.slug.tgz`);
    this.pool ??= packPool(1);
    const packed = await this.pool.pack({ dir: compiled.buildDir, file });
    if (signal.aborted) throw signal.reason;
    if (packed.skipped.length) emit(warn(`Left out of the slug (not files): ${packed.skipped.slice(0, 5).join(', ')}${packed.skipped.length > 5 ? ', ...' : ''}`));
    if (packed.problems.length) {
      throw new BuildFailure(`The slug would hold links that leave the app dir, which dynos refuse: ${packed.problems.slice(0, 5).join(', ')}. Make them relative links inside the app.`);
    }
    if (packed.size > this.maxSlugBytes) {
      throw new BuildFailure(`Compiled slug size ${human(packed.size)} is too large (max is ${human(this.maxSlugBytes)}); add large files to .slugignore or trim dependencies.`);
    }
    const stored = await this.ctx.slugs.put(createReadStream(file), { maxBytes: this.maxSlugBytes });
    emit(info(`Done: ${human(stored.size)}`));
    if (signal.aborted) throw signal.reason;
    const copies = await replicateSlug(this.ctx, stored.sha256, this.opts.memberId, signal);
    if (signal.aborted) throw signal.reason;
    if (copies.peers) {
      emit(info(`Slug copied to ${copies.copies} of ${copies.peers} other control instance${copies.peers === 1 ? '' : 's'}`));
      if (copies.failed.length) this.ctx.log.warn({ slug: stored.sha256, failed: copies.failed }, 'slug-replication-incomplete');
    }

    // The build's clock stops here: add-ons, the release command and postdeploy have their own limits.
    stopClock();
    const aj = appJson as AppJson | undefined;
    if (aj && firstDeploy) await provisionAddons(this.ctx, req.app, aj, req.user, emit);
    emit(step('Launching...'));
    build.slug = { id: stored.sha256, sha256: stored.sha256, size: stored.size };
    const release = await this.deploy(req.app, {
      slug: build.slug,
      processTypes: compiled.processTypes,
      ...(deployDescription(req.version) ? { description: deployDescription(req.version)! } : {}),
      author: req.user,
      manifest: { ...(aj?.cron.length ? { cron: aj.cron } : {}), ...(aj?.healthchecks ? { healthcheck: aj.healthchecks } : {}) },
      ...(aj && firstDeploy ? { setup: { env: setupEnv, formation: aj.formation } } : {}),
    }, emit, signal);
    if (release.status === 'pending') await this.releasePhase(release, build, emit);
    emit(info(`Released v${release.version}`));
    if (aj?.cron.length) emit(info(`Scheduled jobs (app.json cron): ${aj.cron.map((c) => `"${c.schedule}" ${c.command}`).join('; ')}`));
    if (aj?.postdeploy && firstDeploy) {
      build.release = release.version;
      await runPostdeploy(this.ctx, req.app, release.version, aj.postdeploy, this.ctx.releasePhase?.timeoutMs ?? 60 * 60_000, emit);
    }
    emit(info(`${webUrl(this.ctx, req.app)} deployed to dynomesh`));
    return release;
  }

  /** deployRelease, waiting while another release of the app runs its release command. */
  private async deploy(app: string, d: Deploy, emit: (c: string) => void, signal: AbortSignal): Promise<Release> {
    let told = 0;
    for (;;) {
      try {
        return await deployRelease(this.ctx, app, d);
      } catch (err) {
        if (!(err instanceof ReleasePendingError)) throw err;
        if (told !== err.version) emit(info(`Waiting for v${err.version}'s release command to finish...`));
        told = err.version;
        await new Promise((r) => setTimeout(r, 1000));
        if (signal.aborted) throw signal.reason;
      }
    }
  }

  /** Streams release vN's release command to the pusher; throws (the push fails) unless it exits 0. */
  private async releasePhase(release: Release, build: Build, emit: (c: string | Buffer) => void): Promise<void> {
    build.release = release.version;
    emit(info('Running release command...'));
    emit('\n');
    const outcome = (await this.ctx.releasePhase?.follow(release.app, release.version, (chunk) => emit(chunk))) ?? (await this.settledOutcome(release, emit));
    if (outcome?.ok) {
      emit(info('Waiting for release.... done.'));
      return;
    }
    emit(info('Waiting for release.... failed.'));
    const current = (await this.ctx.cluster.get(this.ctx.cluster.keys.current(release.app)))?.value.version;
    const serving = current ? `v${current} keeps serving` : 'nothing was released';
    throw new BuildFailure(`${outcome?.error ?? 'Release command failed'}: v${release.version} was not released and ${serving}. Its output: dynomesh releases:output v${release.version} -a ${release.app}`);
  }

  /** The outcome of a release phase that already ended (or runs elsewhere): from etcd, with its output. */
  private async settledOutcome(release: Release, emit: (c: string | Buffer) => void): Promise<{ ok: boolean; error?: string }> {
    const k = this.ctx.cluster.keys;
    for (;;) {
      const rel = (await this.ctx.cluster.get(k.release(release.app, release.version)))?.value;
      if (rel?.status !== 'pending') {
        const out = (await this.ctx.cluster.get(k.releaseOutput(release.app, release.version)))?.value;
        if (out?.output) emit(out.output);
        return { ok: rel?.status === 'succeeded', ...(rel?.phase?.error ? { error: rel.phase.error } : {}) };
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** Stops every running build (they fail and their pushes are rejected). */
  async close(): Promise<void> {
    for (const a of this.active.values()) a.abort.abort(new BuildFailure('The control plane is shutting down; push again.'));
    const deadline = Date.now() + 5000;
    while (this.active.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await this.pool?.close();
  }
}
