/**
 * Where the control gets the dashboard's files. Compiled (`npm run build`, what users install):
 * `dist/dashboard/public/`, written by `build.ts`. From a checkout under tsx (`npm run up`, tests):
 * bundled from `src/` with esbuild once per process, in memory, so an edit shows on the next start
 * and a stale bundle can never be served. Read or built on the first request, then kept.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle, typeOf, type Assets } from './bundle.ts';

const compiled = import.meta.url.endsWith('.js');
const PUBLIC = fileURLToPath(new URL('./public/', import.meta.url));

let loading: Promise<Assets> | undefined;

function readBuilt(): Assets {
  const assets: Assets = new Map();
  for (const name of readdirSync(PUBLIC)) assets.set(name, { body: readFileSync(join(PUBLIC, name)), type: typeOf(name) });
  return assets;
}

async function load(): Promise<Assets> {
  if (compiled && existsSync(join(PUBLIC, 'index.html'))) return readBuilt();
  if (compiled) throw new Error(`the dashboard is not built (no ${PUBLIC}); run \`npm run build\``);
  return bundle();
}

/** The dashboard's files; a failed load is tried again on the next request. */
export function dashboardAssets(): Promise<Assets> {
  loading ??= load().catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}
