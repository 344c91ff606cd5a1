// Plain-JS entry for piscina workers: worker threads do not inherit the tsx loader
// on Node 20, so this loads the TypeScript worker through tsx's API.
import { tsImport } from 'tsx/esm/api';

const worker = await tsImport('./pack-worker.ts', import.meta.url);
export const pack = worker.pack;
