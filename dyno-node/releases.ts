/**
 * A placed release as this node runs it, from a control member (in random
 * order, the next one on failure): `GET /internal/releases/{app}/{version}`,
 * signed with the node's credential. Config vars arrive sealed for this node
 * alone (cluster/node-credential.ts) and are opened here; the node holds no key
 * that opens any other app's.
 */
import { request } from 'undici';
import type { Cluster } from '../cluster/client.ts';
import { configKeyOf, signRequest, type NodeCredentialFile, type NodeRelease } from '../cluster/node-credential.ts';
import { unseal } from '../cluster/sealed.ts';
import type { HealthCheck, Slug } from '../cluster/records.ts';

export interface PlacedRelease {
  processTypes: Record<string, string>;
  slug: Slug | null;
  config: Record<string, string>;
  healthcheck?: HealthCheck;
}

export class ReleaseFetchError extends Error {
  override name = 'ReleaseFetchError';
}

export class ReleaseSource {
  constructor(
    private readonly cluster: Cluster,
    private readonly credential: NodeCredentialFile,
    private readonly timeoutMs = 15_000,
  ) {}

  /** The Authorization header for one request to a control. */
  sign(method: string, path: string): string {
    return signRequest(this.credential.secret, this.credential.node, 'node', method, path);
  }

  async get(app: string, version: number): Promise<PlacedRelease> {
    const { entries } = await this.cluster.list(this.cluster.keys.members());
    if (entries.length === 0) throw new ReleaseFetchError('no control member is registered in etcd to fetch releases from');
    const path = `/internal/releases/${app}/${version}`;
    const errors: string[] = [];
    for (const m of entries.map((e) => e.value).sort(() => Math.random() - 0.5)) {
      try {
        const res = await request(`${m.api.replace(/\/+$/, '')}${path}`, {
          headers: { authorization: this.sign('GET', path) }, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs,
        });
        if (res.statusCode !== 200) {
          const text = (await res.body.text()).slice(0, 300);
          throw new ReleaseFetchError(`answered ${res.statusCode}${text ? `: ${text}` : ''}`);
        }
        const r = (await res.body.json()) as NodeRelease;
        const sealed = Buffer.from(r.config, 'base64');
        return {
          processTypes: r.processTypes, slug: r.slug, config: unseal(configKeyOf(this.credential.secret), sealed),
          ...(r.healthcheck ? { healthcheck: r.healthcheck } : {}),
        };
      } catch (err) {
        errors.push(`${m.api}: ${(err as Error).message}`);
      }
    }
    throw new ReleaseFetchError(`could not fetch release v${version} of ${app}: ${errors.join('; ')}`);
  }
}
