/**
 * Platform events in the app's stream as `app[api]` lines, worded as Heroku's:
 *
 *   Set FOO config vars by user@example.com
 *   Release v7 created by user@example.com
 *   Scaled to web@3:Standard-1X worker@0:Standard-1X by user@example.com
 *   Build started by user@example.com / Build succeeded / Build failed
 *
 * Control code calls these where the change is committed (releases.ts,
 * the formation routes, builds); they never block or throw.
 */
import type { Release } from '../../cluster/records.ts';
import type { LogShipper } from '../../logplex/shipper.ts';

export type BuildOutcome = 'started' | 'succeeded' | 'failed';

const sizeName = (s: string) => s.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase()).replace(/x$/, 'X');

export class AppEvents {
  constructor(private readonly shipper: LogShipper) {}

  emit(app: string, line: string): void {
    this.shipper.write({ app, source: 'app', dyno: 'api', line });
  }

  /** A committed release: what changed, then the release line. */
  release(rel: Release): void {
    const by = rel.author ? ` by ${rel.author}` : '';
    if (rel.description) this.emit(rel.app, `${rel.description}${by}`);
    this.emit(rel.app, `Release v${rel.version} created${by}`);
  }

  scaled(app: string, formation: { type: string; quantity: number; size: string }[], user: string): void {
    if (!formation.length) return;
    const parts = formation.map((f) => `${f.type}@${f.quantity}:${sizeName(f.size)}`);
    this.emit(app, `Scaled to ${parts.join(' ')} by ${user}`);
  }

  build(app: string, outcome: BuildOutcome, user?: string): void {
    this.emit(app, outcome === 'started' ? `Build started${user ? ` by ${user}` : ''}` : `Build ${outcome}`);
  }
}
