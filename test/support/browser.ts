/**
 * A real headless Chromium for browser tests: Debian's `chromium` (scripts/install-deps.sh
 * --browser) driven by playwright-core. Tests skip, saying why, where it is not installed.
 * Screenshots go to a directory the test prints: under the clone on CI (test-output/, kept
 * with the run), a fresh temp dir elsewhere; DYNOMESH_TEST_OUTPUT overrides both.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ROOT } from './up.ts';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** The Chromium to drive, or undefined. */
export function chromiumPath(): string | undefined {
  const own = process.env.DYNOMESH_CHROMIUM;
  if (own) return existsSync(own) ? own : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

/** Why a browser test cannot run here, or undefined when it can. */
export function browserSkipReason(): string | undefined {
  return chromiumPath() ? undefined : 'chromium is not installed: run `bash scripts/install-deps.sh --browser` (CI does)';
}

/** `hosts` maps made-up names to loopback, so a page can come from "another machine" that is this one. */
export function launchChromium(hosts: string[] = []): Promise<Browser> {
  const args = ['--no-sandbox', '--disable-dev-shm-usage']; // as root there is no sandbox to drop into; the pages are our own
  if (hosts.length) args.push(`--host-resolver-rules=${hosts.map((h) => `MAP ${h} 127.0.0.1`).join(', ')}`);
  return chromium.launch({ executablePath: chromiumPath()!, headless: true, args });
}

/** Where screenshots of `name` go; made now. */
export function outputDir(name: string): string {
  const base = process.env.DYNOMESH_TEST_OUTPUT ?? (process.env.CI ? join(ROOT, 'test-output') : undefined);
  if (!base) return mkdtempSync(join(tmpdir(), `${name}-`));
  const dir = join(base, `${name}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
