/**
 * What an enrolled dyno-node may fetch from a control: the slugs and release
 * data of releases placed on it (`dynos/{node}/`), read from etcd on every
 * request. Only controls write placements (a node's etcd role reads its own,
 * cluster/etcd-auth.ts), so a node cannot grant itself another app. Config vars leave here sealed for that node alone
 * (cluster/node-credential.ts), so a node never holds a key that opens every app.
 *
 * A placement that just went (a dyno moved to another node, a one-off ended)
 * still counts for `graceMs` on this instance, so a run starting as its
 * placement is deleted is not cut off halfway through its fetches.
 */
import { configKeyOf, nodeSecret, type NodeRelease } from '../cluster/node-credential.ts';
import { seal, unseal } from '../cluster/sealed.ts';
import type { EntryOf } from '../cluster/client.ts';
import type { ControlContext } from './context.ts';

/** Release slug ids are immutable: kept to answer slug checks without a read per release. */
const MAX_REMEMBERED = 10_000;

export class NodeAccess {
  /** `node app@version` -> when it was last seen placed on the node. */
  private readonly seen = new Map<string, number>();
  private readonly slugOf = new Map<string, string | null>();

  constructor(
    private readonly ctx: ControlContext,
    private readonly graceMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** `app@version` of every release placed on `node` now, or within the grace. */
  async releasesOn(node: string): Promise<Set<string>> {
    const { cluster } = this.ctx;
    const { entries } = await cluster.list(cluster.keys.placementsOf(node));
    const now = this.now();
    const out = new Set<string>();
    for (const e of entries as EntryOf<'placement'>[]) {
      if (e.kind !== 'placement') continue;
      const r = `${e.value.app}@${e.value.release}`;
      out.add(r);
      this.seen.set(`${node} ${r}`, now);
    }
    for (const [k, at] of this.seen) {
      if (now - at > this.graceMs) this.seen.delete(k);
      else if (k.startsWith(`${node} `)) out.add(k.slice(node.length + 1));
    }
    return out;
  }

  /** Whether the slug belongs to a release placed on the node. */
  async maySlug(node: string, sha: string): Promise<boolean> {
    for (const r of await this.releasesOn(node)) {
      if ((await this.slugSha(r)) === sha) return true;
    }
    return false;
  }

  /** The release as the node needs it, config sealed for it; undefined when not placed there. */
  async release(node: string, app: string, version: number): Promise<NodeRelease | undefined> {
    if (!(await this.releasesOn(node)).has(`${app}@${version}`)) return undefined;
    const { cluster, clusterKey } = this.ctx;
    const [rel, secret] = await Promise.all([cluster.get(cluster.keys.release(app, version)), nodeSecret(cluster, clusterKey, node)]);
    if (!rel || !secret) return undefined;
    const r = rel.value;
    const config = r.config.length > 0 ? unseal(clusterKey, r.config) : {};
    return {
      app, version, slug: r.slug, processTypes: r.processTypes,
      ...(r.healthcheck ? { healthcheck: r.healthcheck } : {}),
      config: Buffer.from(seal(configKeyOf(secret), config)).toString('base64'),
    };
  }

  private async slugSha(appAtVersion: string): Promise<string | null> {
    const known = this.slugOf.get(appAtVersion);
    if (known !== undefined) return known;
    const i = appAtVersion.lastIndexOf('@');
    const rel = await this.ctx.cluster.get(this.ctx.cluster.keys.release(appAtVersion.slice(0, i), Number(appAtVersion.slice(i + 1))));
    if (!rel) return null; // not written yet, or destroyed: ask again next time
    if (this.slugOf.size >= MAX_REMEMBERED) this.slugOf.clear();
    this.slugOf.set(appAtVersion, rel.value.slug?.sha256 ?? null);
    return rel.value.slug?.sha256 ?? null;
  }
}
