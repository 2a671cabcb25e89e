#!/usr/bin/env bash
# Runs a command with a Node.js that the project supports (>= 22.15) first on PATH.
#
#   scripts/with-node.sh npm ci
#   scripts/with-node.sh npm start
#
# When the system Node is older than 22.15 (this machine ships Node 20), Node 24 LTS is installed
# from the npm registry (the `node-linux-<arch>` package) into a per-user cache and used instead.
# npm itself is a JavaScript program, so `npm` then runs on Node 24 too, which matters: npm honours
# `engines` while resolving, and under Node 20 it silently locks the old OpenTelemetry line.
#
# Environment:
#   PERF_SIDECAR_NODE_VERSION  Node version to install when needed (default below, pinned)
#   PERF_SIDECAR_NODE_EXACT    1: run under exactly PERF_SIDECAR_NODE_VERSION, whatever the system
#                              Node is (CI uses it to test the stated minimum, 22.15.0)
#   PERF_SIDECAR_TOOLS         cache directory (default: $XDG_CACHE_HOME or ~/.cache, /perf-sidecar)
set -euo pipefail

NODE_VERSION="${PERF_SIDECAR_NODE_VERSION:-24.21.0}"
EXACT="${PERF_SIDECAR_NODE_EXACT:-0}"
MIN_MAJOR=22
MIN_MINOR=15

if [[ "$EXACT" != 0 && "$EXACT" != 1 ]]; then
  echo "with-node: PERF_SIDECAR_NODE_EXACT must be 0 or 1, not \"$EXACT\"" >&2
  exit 64
fi
if [[ ! "$NODE_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "with-node: PERF_SIDECAR_NODE_VERSION must be a full version such as 24.21.0, not \"$NODE_VERSION\"" >&2
  exit 64
fi

if [[ $# -eq 0 ]]; then
  echo "usage: scripts/with-node.sh <command> [args...]" >&2
  exit 64
fi

node_is_usable() {
  # $1: path to a node binary. With EXACT=1: its version is NODE_VERSION; otherwise >= the minimum.
  if [[ "$EXACT" == 1 ]]; then
    [[ "$("$1" -p 'process.versions.node' 2>/dev/null)" == "$NODE_VERSION" ]]
  else
    node_is_recent_enough "$1"
  fi
}

node_is_recent_enough() {
  # $1: path to a node binary. True when its version is >= MIN_MAJOR.MIN_MINOR.
  local version major minor
  version="$("$1" -p 'process.versions.node' 2>/dev/null)" || return 1
  major="${version%%.*}"
  minor="${version#*.}"
  minor="${minor%%.*}"
  ((major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR)))
}

system_node="$(command -v node || true)"
if [[ -n "$system_node" ]] && node_is_usable "$system_node"; then
  exec "$@"
fi

case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *)
    echo "with-node: no Node >= ${MIN_MAJOR}.${MIN_MINOR} on PATH and no npm-registry Node build for $(uname -m); install Node 24 yourself" >&2
    exit 1
    ;;
esac

tools="${PERF_SIDECAR_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/perf-sidecar}"
prefix="$tools/node-$NODE_VERSION-linux-$arch"
bin="$prefix/node_modules/node-linux-$arch/bin"

if [[ ! -x "$bin/node" ]] || ! node_is_usable "$bin/node"; then
  if [[ -z "$system_node" ]] || ! command -v npm >/dev/null; then
    echo "with-node: need npm (any version) on PATH to fetch Node $NODE_VERSION" >&2
    exit 1
  fi
  echo "with-node: system Node is $("$system_node" --version 2>/dev/null || echo missing); installing Node $NODE_VERSION from the npm registry into $prefix" >&2
  mkdir -p "$prefix"
  # A private prefix keeps this install out of the project's own node_modules and lockfile.
  npm install --prefix "$prefix" --no-save --no-package-lock --loglevel=error "node-linux-$arch@$NODE_VERSION" >&2
  if ! node_is_usable "$bin/node"; then
    echo "with-node: installed Node at $bin/node does not run, is too old, or is not $NODE_VERSION" >&2
    exit 1
  fi
fi

export PATH="$bin:$PATH"
exec "$@"
