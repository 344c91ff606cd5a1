/**
 * Parsers for flags and environment values, for commander's `argParser`.
 * Each throws InvalidArgumentError with what was wrong and what is expected,
 * so a bad value stops a daemon at start with one clear line.
 */
import { InvalidArgumentError } from 'commander';
import { parseAllow, type AllowRule } from '../container/firewall.ts';

export function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${v}" is not a TCP port (0-65535).`);
  return n;
}

export function parsePositiveInt(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1) throw new InvalidArgumentError(`"${v}" is not a positive whole number.`);
  return n;
}

export function parsePositiveNumber(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`"${v}" is not a positive number.`);
  return n;
}

/** Durations as `500ms`, `30s`, `5m` or a bare number of milliseconds. */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`"${v}" is not a duration (examples: 500ms, 30s, 5m).`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

/** Sizes as `512m`, `2g`, `64k` or a bare number of bytes; returns bytes. */
export function parseSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmgt]?)b?$/i.exec(v.trim());
  if (!m || Number(m[1]) <= 0) throw new InvalidArgumentError(`"${v}" is not a size (examples: 512m, 2g).`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * unit);
}

/** Firewall allow rules (`10.0.5.0/24:5432,10.0.6.7`), repeatable: `--dyno-allow`, `--build-allow`. */
export function parseAllowList(v: string, prev: AllowRule[] = []): AllowRule[] {
  try {
    return [...prev, ...v.split(',').filter((x) => x.trim()).map(parseAllow)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** Comma-separated http(s) URLs, as in DYNOMESH_ETCD=http://10.0.0.1:2379,http://10.0.0.2:2379. */
export function parseUrlList(v: string): string[] {
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new InvalidArgumentError('expected at least one URL (http://host:port).');
  for (const u of list) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new InvalidArgumentError(`"${u}" is not a URL; write it as http://host:port.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`"${u}" must start with http:// or https://.`);
    if (!url.port) throw new InvalidArgumentError(`"${u}" has no port; etcd's client port is usually 2379.`);
  }
  return list;
}

export function parseHostPort(v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  if (i < 0) return { host: '0.0.0.0', port: parsePort(v) };
  return { host: v.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0', port: parsePort(v.slice(i + 1)) };
}
