/**
 * The providers this control plane offers, from its configuration
 * (`--addon-postgresql <admin URL>`, `--addon-redis <admin URL>`). Every
 * instance must be given the same ones: any instance may serve a request.
 */
import { createHmac } from 'node:crypto';
import { invalid } from '../errors.ts';
import { PostgresProvider } from './postgresql.ts';
import type { AddonProvider } from './provider.ts';
import { RedisProvider } from './redis.ts';

export interface AddonConfig {
  /** Admin URL of the PostgreSQL server add-on databases are created on. */
  postgresql?: string;
  /** Admin URL of the Redis server add-on users are created on. */
  redis?: string;
  /** Connect timeout to the providers' servers (default 5 s). */
  connectTimeoutMs?: number;
}

export class AddonProviders {
  private readonly byService = new Map<string, AddonProvider>();

  constructor(providers: AddonProvider[] = []) {
    for (const p of providers) this.byService.set(p.service, p);
  }

  /**
   * Builds the configured providers. Credentials they hand out derive from a secret
   * that itself derives from the cluster key, which every control instance shares.
   */
  static fromConfig(cfg: AddonConfig, clusterKey: Buffer): AddonProviders {
    const secret = createHmac('sha256', clusterKey).update('dynomesh-addon-credentials').digest();
    const t = cfg.connectTimeoutMs !== undefined ? { connectTimeoutMs: cfg.connectTimeoutMs } : {};
    const list: AddonProvider[] = [];
    if (cfg.postgresql) list.push(new PostgresProvider(cfg.postgresql, secret, t));
    if (cfg.redis) list.push(new RedisProvider(cfg.redis, secret, t));
    return new AddonProviders(list);
  }

  get services(): string[] {
    return [...this.byService.keys()].sort();
  }

  /** The provider of `service`, or a 422 that lists what exists and how to add more. */
  get(service: string): AddonProvider {
    const p = this.byService.get(service);
    if (p) return p;
    if (!this.byService.size) {
      throw invalid(`no add-on services are configured on this control plane; the operator starts control with --addon-postgresql or --addon-redis`);
    }
    throw invalid(`unknown add-on service "${service}"; available: ${this.services.join(', ')}`);
  }

  /** The provider for an existing add-on, which may be gone from the configuration. */
  find(service: string): AddonProvider | undefined {
    return this.byService.get(service);
  }
}
