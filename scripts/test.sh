#!/usr/bin/env bash
# The whole test suite: installs what it needs, typechecks, then runs every test
# with node's test runner. Integration tests start their own etcd and processes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --addons
npx tsc --noEmit
# Daemons started by tests log warnings and errors only, unless asked for more.
export DYNOMESH_LOG_LEVEL="${DYNOMESH_LOG_LEVEL:-warn}"
# Every test process refuses to spawn a program install-deps.sh does not install (test/support/spawn-guard.mjs).
mapfile -t files < <(find test -name '*.test.ts' -not -path '*/faults/*' | sort)
exec node --import tsx --import ./test/support/spawn-guard.mjs --test --test-concurrency=1 --test-timeout=300000 "$@" "${files[@]}"
