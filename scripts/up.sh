#!/usr/bin/env bash
# `npm run up`: the newcomer's first command. Installs what is needed, starts a
# one-host cluster (`dynomesh up`) in the background, deploys examples/node-hello
# with a real `git push`, and prints the URL that answers through the router.
# Running it again reuses the running cluster and the app.
#   APP=name        app to create (default: hello)
#   DYNOMESH_HOME   cluster state (default: ~/.dynomesh); DYNOMESH_ROUTER_PORT (default: 5000);
#   DYNOMESH_API_PORT (default: 5050)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
APP=${APP:-hello}
STATE=${DYNOMESH_HOME:-$HOME/.dynomesh}
PORT=${DYNOMESH_ROUTER_PORT:-5000}
dm() { node "$ROOT/bin/dynomesh.js" "$@"; }

# DYNOMESH_SKIP_INSTALL=1: the caller (the test suite) has installed everything already.
[ -n "${DYNOMESH_SKIP_INSTALL:-}" ] || bash scripts/install-deps.sh

mkdir -p "$STATE"
running_pid() {
  node -e 'try { const s = require(process.argv[1]); process.kill(s.pid, 0); console.log(s.pid) } catch {}' "$STATE/up.json" 2>/dev/null
}
pid=$(running_pid)
if [ -n "$pid" ]; then
  echo "==> dynomesh up is already running (pid $pid)"
else
  echo "==> starting dynomesh up in the background (log: $STATE/up.log)"
  : > "$STATE/up.log"
  nohup node "$ROOT/bin/dynomesh.js" up --port "$PORT" >> "$STATE/up.log" 2>&1 < /dev/null &
  up_pid=$!
  for _ in $(seq 1 120); do
    grep -q 'dynomesh is up.' "$STATE/up.log" && break
    if ! kill -0 "$up_pid" 2>/dev/null; then
      echo "dynomesh up stopped during start; the end of $STATE/up.log:" >&2
      tail -n 20 "$STATE/up.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  grep -q 'dynomesh is up.' "$STATE/up.log" || { echo "dynomesh up did not start within 60s; see $STATE/up.log" >&2; exit 1; }
  sed -n '/^dynomesh is up\./,/^  Add-ons/p' "$STATE/up.log"
fi

# The example becomes its own git repository outside this clone, as a user's app would be.
SRC="$STATE/apps/$APP"
if [ ! -d "$SRC/.git" ]; then
  echo "==> copying examples/node-hello to $SRC"
  mkdir -p "$STATE/apps"
  cp -r "$ROOT/examples/node-hello" "$SRC"
  git -C "$SRC" init -q -b main
  git -C "$SRC" add .
  git -C "$SRC" -c user.name=dynomesh -c user.email=dynomesh@localhost commit -qm 'node-hello from the dynomesh examples'
fi
cd "$SRC"
if dm apps:info -a "$APP" >/dev/null 2>&1; then
  echo "==> app $APP exists"
  dm git:remote -a "$APP"
else
  echo "==> dynomesh apps:create $APP"
  dm apps:create "$APP"
fi

echo "==> git push dynomesh main"
git push dynomesh main

URL="http://$APP.localhost:$PORT/"
echo "==> waiting for $URL"
for _ in $(seq 1 120); do
  # node rather than curl: a fresh machine may have no curl.
  body=$(node -e 'const [port, host] = process.argv.slice(1);
    require("http").get({ port, host: "127.0.0.1", path: "/", headers: { host }, timeout: 5000 }, (r) => {
      let b = ""; r.on("data", (c) => (b += c)); r.on("end", () => { if (r.statusCode !== 200) process.exit(1); process.stdout.write(b.trim()); });
    }).on("error", () => process.exit(1));' "$PORT" "$APP.localhost" 2>/dev/null) && break
  body=""
  sleep 0.5
done
if [ -z "$body" ]; then
  echo "$APP did not answer through the router within 60s; check \`dynomesh ps -a $APP\` and $STATE/logs/" >&2
  exit 1
fi
cat <<DONE

$APP answers through the router: $URL
  \$ curl $URL
  $body
Try next (from $SRC, with ./bin of this repo on PATH: export PATH="$ROOT/bin:\$PATH"):
  dynomesh config:set GREETING=Howdy    # new release; dynos restart with it
  dynomesh addons:create postgresql     # a database of its own: DATABASE_URL (examples/node-visits counts visits in it)
  dynomesh ps:scale web=3
  dynomesh logs --tail
  dynomesh rollback
Stop the cluster with: dynomesh down   (apps, releases and config are kept)
DONE
