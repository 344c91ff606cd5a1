/**
 * The dashboard's browser bundle, made by esbuild from `src/`: `src/main.ts` (Preact + htm, uPlot)
 * becomes `app.js`, the CSS it imports (ours and uPlot's) `app.css`, and `src/index.html` is kept as
 * is. Everything the page loads is in these three files: no CDN, nothing inline (the CSP forbids it).
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  body: Buffer;
  type: string;
}

/** File name (`index.html`, `app.js`, `app.css`) → content. */
export type Assets = Map<string, Asset>;

const SRC = fileURLToPath(new URL('./src/', import.meta.url));

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

export const typeOf = (name: string): string => TYPES[name.split('.').pop() ?? ''] ?? 'application/octet-stream';

/** Bundles `src/` in memory (about a second); esbuild is a dev dependency, so only a checkout or `npm run build` calls this. */
export async function bundle(): Promise<Assets> {
  const esbuild = await import('esbuild');
  const out = await esbuild.build({
    entryPoints: { app: join(SRC, 'main.ts') },
    bundle: true,
    format: 'esm',
    // Browsers of the last few years; the page uses fetch streaming and ES2020.
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    minify: true,
    legalComments: 'none',
    write: false,
    outdir: '/out',
    logLevel: 'silent',
  });
  const assets: Assets = new Map();
  for (const f of out.outputFiles) assets.set(basename(f.path), { body: Buffer.from(f.contents), type: typeOf(f.path) });
  assets.set('index.html', { body: readFileSync(join(SRC, 'index.html')), type: typeOf('index.html') });
  for (const want of ['app.js', 'app.css']) if (!assets.has(want)) throw new Error(`dashboard bundle: esbuild made no ${want}`);
  return assets;
}
