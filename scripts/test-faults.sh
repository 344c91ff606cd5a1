#!/usr/bin/env bash
# The fault suite: each file starts a cluster of network namespaces (3 etcd, 2 control,
# 2 routers, 3 dyno nodes) and injects faults under load; each scenario prints one
# `fault ...: sent= failed= p99= recovery=` line. Needs root (ip netns, veth, bridge).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "test:faults needs root (it creates network namespaces); run it as root or with sudo" >&2
  exit 2
fi
bash scripts/install-deps.sh --faults
export DYNOMESH_LOG_LEVEL="${DYNOMESH_LOG_LEVEL:-warn}"
# Leftovers of a run that was killed before it could clean up.
node --import tsx deploy/netns/main.ts cleanup
mapfile -t files < <(find test/faults -name '*.test.ts' | sort)
exec node --import tsx --import ./test/support/spawn-guard.mjs --test --test-concurrency=1 --test-timeout=300000 "$@" "${files[@]}"
