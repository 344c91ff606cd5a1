// Plain-JS entry for piscina workers: worker threads do not inherit the tsx loader
// on Node 20, so under tsx this loads the TypeScript worker through tsx's API;
// in the compiled package the JavaScript sits next to this file.
import { existsSync } from 'node:fs';

const js = new URL('./pack-worker.js', import.meta.url);
const worker = existsSync(js) ? await import(js.href) : await (await import('tsx/esm/api')).tsImport('./pack-worker.ts', import.meta.url);
export const pack = worker.pack;
