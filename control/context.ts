/** What every control operation and route needs, built once per instance by `control.ts`. */
import type { Cluster } from '../cluster/client.ts';
import type { Egress } from '../lib/egress.ts';
import type { Logger } from '../lib/log.ts';
import type { AddonProviders } from './addons/registry.ts';
import type { ReleaseContext } from './releases.ts';
import type { SlugStore } from './slugs/store.ts';

export interface ControlContext extends ReleaseContext {
  cluster: Cluster;
  clusterKey: Buffer;
  slugs: SlugStore;
  /** Apps answer at `<app>.<baseDomain>` on the routers. */
  baseDomain: string;
  /** Port the routers serve on, shown in web_url when it is not 80. */
  routerPort: number;
  /** This instance's API base URL as clients reach it (git_url). */
  advertiseUrl: string;
  log: Logger;
  /** Outbound requests made for a tenant (drains, source_blob.url, buildpack URLs) go through this guard. */
  egress?: Egress;
  /** The one directory buildpack paths may name (`--buildpack-dir`); absent: paths are refused. */
  buildpackDir?: string;
  /**
   * Run in order before an app's keys are deleted (add-ons deprovision, git repos and
   * build caches go). A hook that throws stops the destroy with nothing deleted.
   */
  beforeAppDestroy?: ((app: string) => Promise<void>)[];
  /** The add-on services this instance provisions (app.json `addons` on a first deploy uses them too). */
  addonProviders?: AddonProviders;
}

export function webUrl(ctx: ControlContext, app: string): string {
  return `http://${app}.${ctx.baseDomain}${ctx.routerPort === 80 ? '' : `:${ctx.routerPort}`}/`;
}

export function gitUrl(ctx: ControlContext, app: string): string {
  return `${ctx.advertiseUrl.replace(/\/$/, '')}/${app}.git`;
}
