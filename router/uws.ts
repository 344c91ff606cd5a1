/**
 * Loads uWebSockets.js, proves the native addon is what loaded, and says which
 * build it is and what it does with request heads before our handler runs.
 *
 * `uWebSockets.js` is an npm alias (package.json) to the build chosen in
 * router/README.md ("Which uWebSockets.js build"). Some builds silently swap in
 * a pure-JS server (node:http + ws) when the addon does not load; others throw.
 * Either way the router refuses to start (exit 3): a router on a fallback is
 * several times slower and lacks uWS's semantics (shared/reference/uws.md §1).
 *
 * uWS reads UWS_HTTP_MAX_HEADERS_SIZE once, when the addon loads, for the whole
 * process (worker threads included), so `loadUws(maxHeadSize)` sets it first.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as UWS from 'uWebSockets.js';
import { KNOWN_BUILDS, silentCases, type UwsLimits } from './uws-builds.ts';

export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket, us_socket_context_t } from 'uWebSockets.js';
export type Uws = typeof UWS;

/** The native addon did not load, or a pure-JS fallback loaded instead. */
export class UwsFallbackError extends Error {
  override name = 'UwsFallbackError';
}

/** The addon file name this Node would load, e.g. `uws_linux_x64_115.node`. */
export const addonName = (): string => `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;

const require = createRequire(import.meta.url);
/**
 * The build to load: the pinned alias, or another native build an operator installed
 * (DYNOMESH_UWS_MODULE: a package name or the path of its directory), e.g. upstream's
 * v20.5x on hosts whose glibc its binaries need (router/README.md).
 */
const MODULE = process.env.DYNOMESH_UWS_MODULE || 'uWebSockets.js';
let loaded: Uws | undefined;
let loadedHeadSize: string | undefined;

/**
 * Loads the addon once per process. `maxHeadSize` (bytes) becomes uWS's head
 * limit; it must be given before the first load (the router's start does).
 */
export function loadUws(maxHeadSize?: number): Uws {
  if (loaded) {
    if (maxHeadSize !== undefined && String(maxHeadSize) !== loadedHeadSize) {
      throw new Error(`uWebSockets.js is already loaded with a head limit of ${loadedHeadSize ?? 'its default'}; it cannot change to ${maxHeadSize} in this process`);
    }
    return loaded;
  }
  if (maxHeadSize !== undefined) process.env.UWS_HTTP_MAX_HEADERS_SIZE = String(maxHeadSize);
  let mod: Uws;
  try {
    mod = require(MODULE) as Uws;
  } catch (err) {
    const why = (err as Error).message.split('\n').filter(Boolean).pop() ?? String(err);
    throw new UwsFallbackError(
      `the uWebSockets.js native addon ${addonName()} did not load from ${MODULE} (${why}; node ${process.version}); ` +
        'the router refuses to run without it: use a Node version and platform the installed build supports (router/README.md)',
    );
  }
  const nativeFn = Function.prototype.toString.call(mod.App).includes('[native code]');
  const mapped = mappedAddon();
  if (!nativeFn || mapped === null) {
    throw new UwsFallbackError(
      `uWebSockets.js loaded its pure-JS fallback, not the native addon ${addonName()} ` +
        `(UWS_USE_FALLBACK=${process.env.UWS_USE_FALLBACK ?? 'unset'}, node ${process.version}); ` +
        'the router refuses to run on it: unset UWS_USE_FALLBACK or use a Node version the addon supports',
    );
  }
  loadedHeadSize = process.env.UWS_HTTP_MAX_HEADERS_SIZE;
  return (loaded = mod);
}

/** Path of the addon this process has mapped; '' when there is no /proc (the [native code] check alone decides); null when not mapped. */
function mappedAddon(): string | null {
  let maps: string;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return '';
  }
  const name = addonName();
  const line = maps.split('\n').find((l) => l.endsWith(name));
  return line === undefined ? null : line.slice(line.indexOf('/'));
}

export interface UwsBuild {
  /** The npm package behind the `uWebSockets.js` alias, and its version. */
  package: string;
  version: string;
  /** The addon file this process loaded. */
  addon: string;
  sha256: string;
  /** Its measured behaviour (router/uws-builds.ts), or null for an addon we have not measured. */
  limits: UwsLimits | null;
}

let build: UwsBuild | undefined;

/** Which build is loaded (reads and hashes the addon file once; call after loadUws). */
export function uwsBuild(): UwsBuild {
  if (build) return build;
  const pkgPath = packageJsonOf(require.resolve(MODULE));
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { name: string; version: string };
  const addon = mappedAddon() || join(dirname(pkgPath), addonName());
  const sha256 = createHash('sha256').update(readFileSync(addon)).digest('hex');
  const known = KNOWN_BUILDS.get(sha256);
  return (build = { package: pkg.name, version: pkg.version, addon, sha256, limits: known ?? null });
}

/** The package.json above a resolved entry file (some builds do not export it). */
function packageJsonOf(entry: string): string {
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) return p;
  }
  throw new Error(`no package.json above ${entry}`);
}

/**
 * The start-up record: which build, and what a client gets for each head the
 * router cannot see. `gaps` lists the cases that end without a status line.
 */
export function uwsStartRecord(maxHeadSize: number): Record<string, unknown> & { gaps: string[] } {
  const b = uwsBuild();
  const l = b.limits;
  return {
    uws: `${b.package}@${b.version}`,
    addon: b.addon,
    sha256: b.sha256,
    measured: l !== null,
    maxHeadSize,
    splitHeadLimit: l === null ? 'unknown' : l.headLimitFromEnv ? maxHeadSize : 4096,
    maxHeaders: l?.maxHeaders ?? 'unknown',
    overMaxHeaders: l?.overMaxHeaders ?? 'unknown',
    http10: l?.http10 ?? 'unknown',
    missingHost: l?.missingHost ?? 'unknown',
    gaps: l === null ? ['this addon was not measured: its head limits are unknown (router/uws-builds.ts)'] : silentCases(l, maxHeadSize),
  };
}

/** Copy of an ArrayBuffer uWS will detach after the callback returns. */
export const copyAb = (ab: ArrayBuffer): Buffer => Buffer.from(new Uint8Array(ab));

/** uWS gives the address as ArrayBuffer text; IPv4-mapped IPv6 comes uncompressed. Normalise it. */
export function addressText(ab: ArrayBuffer): string {
  const s = Buffer.from(ab).toString();
  if (s.startsWith('0000:0000:0000:0000:0000:ffff:')) {
    const h = s.slice(30).replace(':', '');
    const n = parseInt(h, 16);
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  return s;
}
