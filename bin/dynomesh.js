#!/usr/bin/env node
// Entry point. The installed package runs the compiled JavaScript in dist/; a git
// checkout (where the TypeScript sources are) runs them through tsx, unless
// DYNOMESH_DIST=1 asks for dist/ (what CI checks before packing).
import { existsSync } from 'node:fs';

const sources = new URL('../cli/main.ts', import.meta.url);
const compiled = new URL('../dist/cli/main.js', import.meta.url);
const wantDist = process.env.DYNOMESH_DIST === '1' || !existsSync(sources);

if (wantDist) {
  if (!existsSync(compiled)) {
    process.stderr.write('dynomesh: dist/ is missing; run `npm run build` first\n');
    process.exit(1);
  }
  await import(compiled.href);
} else {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    process.stderr.write('dynomesh: this checkout runs from TypeScript and needs its devDependencies (`npm install`), or `npm run build` and DYNOMESH_DIST=1\n');
    process.exit(1);
  }
  tsx.register();
  await import(sources.href);
}
