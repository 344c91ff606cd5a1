/**
 * `git push` deploys, wired for one control instance: the bare repos, the
 * pre-receive hook socket, the builder, and their routes on the API.
 * control.ts calls `startDeploys` once it has its router and context.
 */
import { join } from 'node:path';
import type { ApiRouter } from '../api/router.ts';
import type { ControlContext } from '../context.ts';
import { Builder, type BuilderOptions } from '../build/builder.ts';
import { buildRoutes } from '../build/routes.ts';
import { HookServer } from './hook-server.ts';
import { pushHandler } from './push.ts';
import { RepoStore } from './repos.ts';
import { gitRoutes } from './routes.ts';

export interface DeployOptions {
  dataDir: string;
  memberId: string;
  /** Compile time limit in ms (default 15 min). */
  timeoutMs?: number;
  /** Compressed slug size limit in bytes (default 500 MB). */
  maxSlugBytes?: number;
  /** Where builds run and caches persist (see BuilderOptions.buildDir). */
  buildDir?: string;
  /** Build steps in containers (BuilderOptions.isolation). */
  isolation?: BuilderOptions['isolation'];
}

export interface Deploys {
  builder: Builder;
  repos: RepoStore;
  close(): Promise<void>;
}

export async function startDeploys(router: ApiRouter, ctx: ControlContext, o: DeployOptions): Promise<Deploys> {
  const builderOpts: BuilderOptions = { dataDir: o.dataDir, memberId: o.memberId };
  if (o.timeoutMs !== undefined) builderOpts.timeoutMs = o.timeoutMs;
  if (o.maxSlugBytes !== undefined) builderOpts.maxSlugBytes = o.maxSlugBytes;
  if (o.buildDir !== undefined) builderOpts.buildDir = o.buildDir;
  if (o.isolation !== undefined) builderOpts.isolation = o.isolation;
  const builder = new Builder(ctx, builderOpts);
  await builder.start();
  builder.recover();
  const repos = new RepoStore(o.dataDir, (app) => builder.sandbox.cacheDir(app));
  const hooks = new HookServer(join(o.dataDir, 'run'), pushHandler(builder), ctx.log.child({ component: 'git' }));
  await hooks.start();
  buildRoutes(router, ctx, builder, o.memberId);
  gitRoutes(router, ctx, repos, hooks);
  return {
    builder,
    repos,
    async close() {
      await builder.close();
      await hooks.close();
    },
  };
}
