/**
 * What a buildpack's `bin/release` prints (Heroku buildpack API), read with a
 * real YAML parser: third-party buildpacks print whatever their YAML library
 * emits (quoted commands with commas, flow maps, nested config).
 *
 *   ---
 *   addons:
 *     - heroku-postgresql
 *   config_vars:
 *     KEY: value
 *   default_process_types:
 *     web: npm start
 *
 * Errors name the line, so a buildpack author sees why.
 */
import { parseDocument } from 'yaml';

export class ReleaseYamlError extends Error {
  override name = 'ReleaseYamlError';
}

/** The top-level map of the release document ({} for an empty one). */
export function parseReleaseYaml(text: string): Record<string, unknown> {
  // Heroku's YAML is 1.1-era; 'core' keeps `yes`/`on` as strings inside commands and config values.
  const doc = parseDocument(text, { schema: 'core', prettyErrors: true, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) throw new ReleaseYamlError(`line ${err.linePos?.[0].line ?? '?'}: ${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:$/, '')}`);
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ReleaseYamlError('line 1: expected a map of keys (addons, config_vars, default_process_types)');
  return value as Record<string, unknown>;
}

/** `default_process_types` from bin/release output ({} when absent). */
export function defaultProcessTypes(text: string): Record<string, string> {
  const v = parseReleaseYaml(text).default_process_types;
  if (v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ReleaseYamlError('default_process_types must be a map of type: command');
  const out: Record<string, string> = {};
  for (const [type, command] of Object.entries(v)) {
    if (typeof command === 'object' && command !== null) throw new ReleaseYamlError(`default_process_types.${type} must be a command, not a ${Array.isArray(command) ? 'list' : 'map'}`);
    out[type] = String(command ?? '');
  }
  return out;
}
