/**
 * Loads uWebSockets.js and proves the native addon is what loaded.
 *
 * The npm build silently swaps in a pure-JS server (node:http + ws) when the
 * addon does not load or UWS_USE_FALLBACK is set; the only sign is a console
 * line. A router on that fallback is several times slower and lacks uWS's
 * semantics, so we refuse to start instead (see shared/reference/uws.md §1).
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import type * as UWS from 'uWebSockets.js';

export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket, us_socket_context_t } from 'uWebSockets.js';
export type Uws = typeof UWS;

export class UwsFallbackError extends Error {
  override name = 'UwsFallbackError';
}

/** The addon file name this Node would load, e.g. `uws_linux_x64_115.node`. */
export const addonName = (): string => `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;

let loaded: Uws | undefined;

export function loadUws(): Uws {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const mod = require('uWebSockets.js') as Uws;
  const nativeFn = Function.prototype.toString.call(mod.App).includes('[native code]');
  let mapped = true;
  try {
    mapped = readFileSync('/proc/self/maps', 'utf8').includes(addonName());
  } catch {
    // no /proc (not Linux): the [native code] check alone decides
  }
  if (!nativeFn || !mapped) {
    throw new UwsFallbackError(
      `uWebSockets.js loaded its pure-JS fallback, not the native addon ${addonName()} ` +
        `(UWS_USE_FALLBACK=${process.env.UWS_USE_FALLBACK ?? 'unset'}, node ${process.version}); ` +
        'the router refuses to run on it: unset UWS_USE_FALLBACK or use a Node version the addon supports',
    );
  }
  return (loaded = mod);
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
