#!/usr/bin/env bash
# Installs what dynomesh needs on Debian/Ubuntu: npm packages, etcd-server, git, PostgreSQL and Redis
# (`dynomesh up` runs its own for `addons:create`), rsyslog (tests).
# `--bench` adds nginx, haproxy, caddy and wrk (the bench's anchors and load generator).
# `--addons` adds the clients psql and redis-cli (the add-on tests' apps run psql).
# `--browser` adds Debian's chromium (the dashboard's browser test drives it with playwright-core).
# Uses sudo when not root; says exactly what is missing when it cannot install.
set -euo pipefail
cd "$(dirname "$0")/.."

# rsyslog: the log drain test starts its own rsyslogd on loopback (never the system one).
# etcd-client: etcdctl, which tests and operators use against the cluster's etcd, and `up` sets up etcd's roles with.
# curl: the HTTPS tests fetch through the router as a user would (--resolve, --cacert).
# openssl: `up` makes its etcd's CA and per-daemon client certificates with it (cluster/pki.ts).
# Tenant isolation (every dyno and build in its own container, dyno-node/README.md): runc, the CNI
# plugins (bridge, host-local, portmap), nftables, iptables (portmap's rules), tini (PID 1 of each
# container), iproute2 (network namespaces, isolated bridge ports), e2fsprogs (each dyno's /app volume).
# postgresql, redis-server: the add-on servers `dynomesh up` starts (pg_ctlcluster comes with the server).
# pebble (Let's Encrypt's test ACME server, with pebble-challtestsrv): the ACM test starts its own.
# bsdutils: `script`, the pseudo-terminal of `dynomesh run` from a terminal (and of its test).
want=(etcd-server etcd-client openssl curl git rsyslog runc containernetworking-plugins nftables iptables tini iproute2 e2fsprogs postgresql redis-server pebble bsdutils)
bins=(etcd etcdctl openssl curl git rsyslogd runc /usr/lib/cni/portmap nft iptables tini ip mkfs.ext4 pg_ctlcluster redis-server pebble script)
# --list / --packages: every binary / Debian package of every group, one per line (the test
# support refuses to spawn a program from any other package than these and Debian's required set).
groups=("$@")
case "${1:-}" in --list|--packages) groups=(--bench --faults --addons --browser) ;; esac
for a in "${groups[@]}"; do
  case "$a" in
    --bench) want+=(nginx haproxy caddy wrk); bins+=(nginx haproxy caddy wrk) ;;
    --faults) want+=(iproute2 procps); bins+=(ip pkill) ;;
    # add-on tests start their own PostgreSQL and redis-server (ACL users: Redis >= 6); their apps run psql.
    --addons) want+=(postgresql-client redis-tools); bins+=(psql redis-cli) ;;
    --browser) want+=(chromium); bins+=(chromium) ;;
  esac
done

if [ "${1:-}" = "--list" ]; then printf '%s\n' "${bins[@]}"; exit 0; fi
if [ "${1:-}" = "--packages" ]; then printf '%s\n' "${want[@]}" | sort -u; exit 0; fi

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  echo "dynomesh needs Node.js 20 or newer (found: $(node -v 2>/dev/null || echo none)). Install Node 20 and npm, then run this again." >&2
  exit 1
fi

missing=()
for i in "${!bins[@]}"; do
  b="${bins[$i]}"
  if [ "${b#/}" != "$b" ]; then [ -x "$b" ] || missing+=("${want[$i]}"); continue; fi
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || [ -x "/usr/bin/$b" ] || missing+=("${want[$i]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "missing packages: ${missing[*]}; run as root or install sudo, or: apt-get install -y ${missing[*]}" >&2; exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing packages: ${missing[*]}; this script knows apt-get only. Install them with your package manager." >&2; exit 1
  fi
  echo "installing ${missing[*]} (apt-get)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null || true
  # Debian's etcd-server and nginx start system services on install where systemd runs; we start our own.
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for s in etcd nginx haproxy caddy postgresql redis-server; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$s" 2>/dev/null; then $SUDO systemctl stop "$s" || true; fi
  done
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm packages (npm ci)..." >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
