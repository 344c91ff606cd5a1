/**
 * Where the running code lives: the TypeScript sources (development and tests,
 * loaded by tsx) or the compiled `dist/` that `npm pack` ships. Files that are
 * not modules (bin/, buildpacks/, examples/) sit at the package root in both.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** True when this module was compiled to JavaScript (dist/), false under tsx. */
export const compiled = import.meta.url.endsWith('.js');

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'dynomesh.js'))) return dir;
    if (dirname(dir) === dir) throw new Error(`dynomesh: no package root above ${from}`);
  }
}

/** The directory holding package.json, bin/, buildpacks/ and examples/. */
export const PACKAGE_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

/** The CLI entry every daemon and git helper is started through. */
export const BIN = join(PACKAGE_ROOT, 'bin', 'dynomesh.js');

/** A sibling module of `base` by its name without extension: `.ts` in development, `.js` once compiled. */
export function moduleUrl(base: string, name: string): URL {
  return new URL(`${name}${compiled ? '.js' : '.ts'}`, base);
}
