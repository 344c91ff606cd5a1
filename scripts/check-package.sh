#!/usr/bin/env bash
# CI: the package users install. Packs the project (prepack compiles dist/), installs the
# tarball with no devDependencies into a temporary prefix, starts `dynomesh up` from it and
# deploys examples/node-hello with the package's own scripts/up.sh until it answers through
# the router. Reports the router's RSS at rest (0 apps) for the checkout (tsx) and the package.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
work=$(mktemp -d /tmp/dm-package-XXXXXX)
chmod 711 "$work"
homes=()
cleanup() {
  for h in "${homes[@]}"; do
    DYNOMESH_HOME="$h/.dynomesh" node "$ROOT/bin/dynomesh.js" down >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> npm pack"
tgz=$(npm pack --silent --pack-destination "$work" | tail -n 1)
echo "    $tgz: $(du -h "$work/$tgz" | cut -f1), $(tar -tzf "$work/$tgz" | wc -l) files"
if tar -tzf "$work/$tgz" | grep -E '\.ts$' | grep -v '\.d\.ts$' | head -n 3 | grep -q .; then
  echo "the package ships TypeScript sources; it should ship dist/ only" >&2
  exit 1
fi

echo "==> npm install -g --omit=dev (prefix $work/prefix)"
npm install -g --omit=dev --no-audit --no-fund --prefix "$work/prefix" "$work/$tgz" >/dev/null
pkg="$work/prefix/lib/node_modules/dynomesh"
for dev in tsx typescript hdr-histogram-js esbuild; do
  if [ -e "$pkg/node_modules/$dev" ]; then echo "the installed package has the devDependency $dev" >&2; exit 1; fi
done
"$work/prefix/bin/dynomesh" --version

free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }

# Starts `dynomesh up` with `$1` (a dynomesh executable) in a fresh HOME (exported for the
# commands that follow) and sets RSS to the router's resident memory in MB at rest (0 apps).
start_up() {
  local bin=$1 home pid
  home=$(mktemp -d "$work/home-XXXXXX")
  chmod 711 "$home"
  homes+=("$home")
  export HOME=$home DYNOMESH_HOME=$home/.dynomesh DYNOMESH_CONFIG=$home/cli.json
  DYNOMESH_ROUTER_PORT=$(free_port) DYNOMESH_API_PORT=$(free_port) DYNOMESH_ROUTER_HTTPS_PORT=$(free_port)
  export DYNOMESH_ROUTER_PORT DYNOMESH_API_PORT DYNOMESH_ROUTER_HTTPS_PORT
  mkdir -p "$DYNOMESH_HOME"
  nohup "$bin" up --port "$DYNOMESH_ROUTER_PORT" --api-port "$DYNOMESH_API_PORT" --quiet > "$home/up.log" 2>&1 < /dev/null &
  for _ in $(seq 1 240); do grep -q 'dynomesh is up.' "$home/up.log" && break; sleep 0.5; done
  grep -q 'dynomesh is up.' "$home/up.log" || { echo "dynomesh up ($bin) did not start:" >&2; tail -n 30 "$home/up.log" >&2; exit 1; }
  sleep 5 # let start-up garbage go
  pid=$(node -e 'const s = require(process.argv[1]); console.log(s.children.find((c) => c.name === "router").pid)' "$DYNOMESH_HOME/up.json")
  RSS=$(awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")
}

echo "==> dynomesh up from the checkout (tsx)"
start_up "$ROOT/bin/dynomesh.js"
rss_tsx=$RSS
"$ROOT/bin/dynomesh.js" down >/dev/null

echo "==> dynomesh up from the installed package"
start_up "$work/prefix/bin/dynomesh"
rss_dist=$RSS
# The dashboard comes from the package's prebuilt bundle (dist/dashboard/public/): no esbuild here.
curl -fsS -o /dev/null "http://127.0.0.1:$DYNOMESH_API_PORT/dashboard/app.js" || { echo "the installed package does not serve the dashboard" >&2; exit 1; }
echo "==> deploying examples/node-hello with the package's scripts/up.sh"
PATH="$work/prefix/bin:$PATH" DYNOMESH_SKIP_INSTALL=1 bash "$pkg/scripts/up.sh" | tail -n 12
"$work/prefix/bin/dynomesh" down >/dev/null

echo "package: ok; router RSS at rest with 0 apps: checkout (tsx) ${rss_tsx} MB, package ${rss_dist} MB"
