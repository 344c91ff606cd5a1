#!/usr/bin/env bash
# The whole test suite: installs what it needs, typechecks, then runs every test
# with node's test runner. Integration tests start their own etcd and processes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --addons
npx tsc --noEmit
npx tsc --noEmit -p dashboard
# Daemons started by tests log warnings and errors only, unless asked for more.
export DYNOMESH_LOG_LEVEL="${DYNOMESH_LOG_LEVEL:-warn}"
# Every test process refuses to spawn a program install-deps.sh does not install (test/support/spawn-guard.mjs).
mapfile -t files < <(find test -name '*.test.ts' -not -path '*/faults/*' | sort)
# Each shard runs its files in an order shuffled by one seed (scripts/run-tests.mjs), printed here;
# DYNOMESH_TEST_SEED=N replays an order.
seed="${DYNOMESH_TEST_SEED:-$(( $(od -An -N4 -tu4 /dev/urandom) % 2147483648 ))}"
echo "# test order seed: $seed (replay: DYNOMESH_TEST_SEED=$seed npm test)"
run() { node --import tsx --import ./test/support/spawn-guard.mjs scripts/run-tests.mjs "$seed" "$@"; }
# With arguments (a pattern, some files): one runner, as asked.
if [ $# -gt 0 ]; then exec node --import tsx --import ./test/support/spawn-guard.mjs --test --test-concurrency=1 --test-timeout=300000 "$@" "${files[@]}"; fi

# Two shards side by side, each one file at a time: the tests mostly wait on the processes they
# start, so the two cores are not the limit. "host" holds every file that may start containers on
# the host's default bridges or a whole `dynomesh up` (builds, up, isolation, add-on e2e, the dashboard in chromium); "rest"
# runs with DYNOMESH_ISOLATION=off, so nothing in it touches those bridges, tables or state dirs.
host=(); rest=()
for f in "${files[@]}"; do
  case "$f" in
    test/build/*|test/cli/*|test/isolation/*|test/addons/e2e.test.ts|test/access/cli-e2e.test.ts|test/dashboard/browser.test.ts) host+=("$f") ;;
    *) rest+=("$f") ;;
  esac
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
run "${host[@]}" > "$out" 2>&1 &
host_pid=$!
rest_code=0
DYNOMESH_ISOLATION=off run "${rest[@]}" || rest_code=$?
host_code=0
wait "$host_pid" || host_code=$?
echo "# ---- the host shard (${#host[@]} files) ----"
cat "$out"
echo "# test shards: rest exit $rest_code (${#rest[@]} files), host exit $host_code (${#host[@]} files), order seed $seed"
[ "$rest_code" -eq 0 ] && [ "$host_code" -eq 0 ]
