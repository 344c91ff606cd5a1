/**
 * What each uWebSockets.js native addon we measured does with request heads
 * *before* the router's handler runs, keyed by the addon file's sha256. The
 * router looks its loaded addon up here and logs the result at start
 * (`uws-build`), so an operator sees which limits apply, and
 * test/router/heads.test.ts knows which answers to expect.
 *
 * Measured on Debian 12 (glibc 2.36), Node 20.20.2 (ABI 115), with a bare uWS
 * app and raw sockets: heads of 2-17 KB in 1, 2 and 8 segments, 41-201 header
 * lines, HTTP/1.0, a missing Host (router/README.md has the table). The
 * @btc-vision build needs glibc 2.38: it was measured under Debian 13's
 * dynamic loader and glibc, which is how it would run on Debian 13 or Ubuntu 24.04.
 */

/** A connection uWS closes with no status line, about 10 s later (its HTTP idle timeout). */
export const NO_STATUS = 'no status, closed after ~10 s';

export interface UwsLimits {
  /**
   * true: uWS reads UWS_HTTP_MAX_HEADERS_SIZE when the addon loads and answers a
   * head larger than that with 431 (3.0.6 only when the head is split across
   * reads; a head in one read reaches the router, which applies the same limit).
   * false: a fixed 4096 bytes, and a larger split head gets a FIN with no status.
   */
  headLimitFromEnv: boolean;
  /** Most header lines (Host included) its parser holds. */
  maxHeaders: number;
  /** What a head with more header lines than that gets while it is under the size limit. */
  overMaxHeaders: '431' | typeof NO_STATUS;
  /** What `GET / HTTP/1.0` gets. */
  http10: '505' | typeof NO_STATUS;
  /** What an HTTP/1.1 head without Host gets. */
  missingHost: '400' | typeof NO_STATUS;
}

export interface KnownBuild extends UwsLimits {
  /** npm package and version that ships this addon. */
  package: string;
  version: string;
  addon: string;
}

export const KNOWN_BUILDS: ReadonlyMap<string, KnownBuild> = new Map([
  // The build package.json pins (router/README.md: why it is trusted).
  ['f4fa5d7b697529b45ac8aa3d57385d9af51bc1d2b26aa9f5b68ca4361542e665', {
    package: 'uwebsockets', version: '3.0.6', addon: 'uws_linux_x64_115.node',
    headLimitFromEnv: true, maxHeaders: 98, overMaxHeaders: NO_STATUS, http10: '505', missingHost: NO_STATUS,
  }],
  // The build the router used before issue 23.
  ['f158fb441f7e2e37b3ab9a56782fe37f4c0d33b5cd32e96ee5c0120ce7db7ced', {
    package: '@trufflesuite/uws-js-unofficial', version: '20.30.0-unofficial.0', addon: 'uws_linux_x64_115.node',
    headLimitFromEnv: false, maxHeaders: 48, overMaxHeaders: NO_STATUS, http10: NO_STATUS, missingHost: NO_STATUS,
  }],
  // Answers every case, but only loads with glibc >= 2.38; not a dependency (router/README.md).
  ['5b126ee00bf754b02e97e4c27090365a8562c5820c93f93918ac2212d4503e91', {
    package: '@btc-vision/uwebsockets.js', version: '20.57.0', addon: 'uws_linux_x64_115.node',
    headLimitFromEnv: true, maxHeaders: 98, overMaxHeaders: '431', http10: '505', missingHost: '400',
  }],
]);

/** The cases a build leaves without a status line, in words, for the start-up warning. */
export function silentCases(b: UwsLimits, maxHeadSize: number): string[] {
  const out: string[] = [];
  if (!b.headLimitFromEnv && maxHeadSize > 4096) out.push('a head over 4096 bytes split across reads: FIN, no status');
  if (b.overMaxHeaders !== '431') out.push(`more than ${b.maxHeaders} header lines in a head under ${maxHeadSize} bytes: ${b.overMaxHeaders}`);
  if (b.http10 !== '505') out.push(`HTTP/1.0: ${b.http10}`);
  if (b.missingHost !== '400') out.push(`HTTP/1.1 without Host: ${b.missingHost}`);
  return out;
}
