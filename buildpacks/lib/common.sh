# Shared helpers for the built-in buildpacks (sourced by bin/compile).

# Indents a step's output under its "----->" header, line by line as it comes.
indent() {
  sed -u 's/^/       /'
}

# Heroku's export_env_dir: config vars from ENV_DIR into the compile's environment,
# except the ones that would break the build host's toolchain.
export_env_dir() {
  local env_dir=$1
  local denylist='^(PATH|GIT_DIR|CPATH|CPPATH|LD_PRELOAD|LIBRARY_PATH|LD_LIBRARY_PATH|HOME|PWD)$'
  [ -d "$env_dir" ] || return 0
  local e
  for e in "$env_dir"/*; do
    [ -f "$e" ] || continue
    e=$(basename "$e")
    if echo "$e" | grep -qvE "$denylist"; then
      export "$e=$(cat "$env_dir/$e")"
    fi
  done
}

error() {
  echo " !     $*" >&2
  exit 1
}
