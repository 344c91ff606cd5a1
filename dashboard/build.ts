/** `npm run build` (scripts/build.sh): writes the bundle to `dist/dashboard/public/`, next to the compiled `assets.js`. */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundle } from './bundle.ts';

const out = process.argv[2] ?? 'dist/dashboard/public';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const assets = await bundle();
for (const [name, a] of assets) writeFileSync(join(out, name), a.body);
console.log(`build: ${out}/ (${[...assets].map(([n, a]) => `${n} ${Math.round(a.body.length / 1024)} KB`).join(', ')})`);
