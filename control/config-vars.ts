/**
 * Config var rules (Heroku's): keys `[A-Za-z_][A-Za-z0-9_]*` not starting with `__`, values strings,
 * at most 32 KB in total. Values are sealed with the cluster key at rest, both in
 * `config/{app}` (the latest) and inside every release.
 */
import type { Cluster } from '../cluster/client.ts';
import { unseal } from '../cluster/sealed.ts';
import { appNotFound, invalid } from './errors.ts';

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Validates a PATCH body in place: every key valid, every value a string or null (numbers and booleans become strings). */
export function checkConfigPatch(patch: unknown): asserts patch is Record<string, string | null> {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    throw invalid('config vars must be a JSON object of KEY: "value" (null removes a key)');
  }
  const p = patch as Record<string, unknown>;
  for (const [key, value] of Object.entries(p)) {
    if (!KEY.test(key) || key.length > 256) {
      throw invalid(`config var name ${JSON.stringify(key)} is invalid: use letters, digits and _ and do not start with a digit`);
    }
    if (key.startsWith('__')) throw invalid(`config var name ${key} is reserved: names may not start with __`);
    if (typeof value === 'number' || typeof value === 'boolean') p[key] = String(value);
    else if (value !== null && typeof value !== 'string') {
      throw invalid(`config var ${key} must be a string (or null to remove it)`);
    }
  }
}

/** Heroku's release descriptions: "Set FOO, BAR config vars", "Remove FOO config vars". */
export function describeConfigChange(set: string[], removed: string[]): string {
  const parts: string[] = [];
  if (set.length) parts.push(`Set ${set.join(', ')} config vars`);
  if (removed.length) parts.push(`${parts.length ? 'remove' : 'Remove'} ${removed.join(', ')} config vars`);
  return parts.join(' and ');
}

/** The app's latest config vars in plaintext. */
export async function readConfig(cluster: Cluster, clusterKey: Buffer, app: string): Promise<Record<string, string>> {
  const [a, cfg] = await Promise.all([cluster.get(cluster.keys.app(app)), cluster.get(cluster.keys.config(app))]);
  if (!a) throw appNotFound(app);
  return cfg ? unseal(clusterKey, cfg.value.sealed) : {};
}
