#!/usr/bin/env bash
# `npm run build`: compiles the daemons and the CLI to dist/ (what `npm pack` ships), and bundles the dashboard.
# Plain-JS files that run as they are (worker shims, the git hook) go next to their modules.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist
npx tsc -p tsconfig.build.json
while IFS= read -r f; do
  mkdir -p "dist/$(dirname "$f")"
  cp "$f" "dist/$f"
done < <(find cluster lib logplex router dyno-node control cli container -name '*.mjs')
# The dashboard's browser bundle (esbuild), served by the control from dist/dashboard/public/.
node --import tsx dashboard/build.ts dist/dashboard/public
echo "build: dist/ ($(find dist -name '*.js' | wc -l) modules)"
