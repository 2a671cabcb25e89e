#!/usr/bin/env bash
# Start-up smoke test under the Node the package states as its minimum (engines in package.json),
# exactly that version, fetched by scripts/with-node.sh when the system has another:
#
#   scripts/smoke.sh            # minimum from package.json (22.15 -> Node 22.15.0)
#   SMOKE_NODE_VERSION=24.21.0 scripts/smoke.sh
#
# Needs dist/ (npm ci or npm run build). Checks, and fails loudly on the first that does not hold:
#   1. `npm start` starts the sidecar, which answers /livez with pass and serves the dashboard page at /;
#   2. a SIGTERM to the process npm started stops the server (its port closes, exit 0);
#   3. an app under `node --import perf-sidecar/register` records a tracked operation (summary,
#      /metrics, alert), checked by scripts/smoke-app.mjs;
#   4. `npm run demo` (TypeScript run directly) refuses that Node with a clear message, and runs to
#      the end under exactly the Node it states (22.18.0; SMOKE_TS_NODE_VERSION), against
#      SMOKE_DATABASE_URL (default the local test database; the demo keeps its schema perf_smoke_demo).
# Steps 1 to 3 run memory-only (no REDIS_URL, no DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  printf '\nSMOKE FAILED: %s\n' "$*" >&2
  exit 1
}

if [[ -z "${SMOKE_NODE_VERSION:-}" ]]; then
  # ">=22.15" -> 22.15.0
  engines="$(sed -n 's/.*"node": *">=\([0-9][0-9.]*\)".*/\1/p' package.json | head -1)"
  [[ -n "$engines" ]] || fail 'no "node": ">=X.Y" in package.json engines'
  SMOKE_NODE_VERSION="$engines"
  while [[ "$(tr -cd . <<<"$SMOKE_NODE_VERSION" | wc -c)" -lt 2 ]]; do SMOKE_NODE_VERSION="$SMOKE_NODE_VERSION.0"; done
fi
[[ -f dist/register.js && -f dist/server.js ]] || fail "dist/ is missing: run npm ci or npm run build first"

exact() { PERF_SIDECAR_NODE_VERSION="$SMOKE_NODE_VERSION" PERF_SIDECAR_NODE_EXACT=1 scripts/with-node.sh "$@"; }

version="$(exact node -p 'process.versions.node')" || fail "could not provide Node $SMOKE_NODE_VERSION"
[[ "$version" == "$SMOKE_NODE_VERSION" ]] || fail "expected Node $SMOKE_NODE_VERSION, got $version"
echo "smoke: Node $version"

log="$(mktemp)"
npm_pid=""
cleanup() {
  # Only the processes this script started, by their ids.
  if [[ -n "$npm_pid" ]]; then
    for pid in $(cat "/proc/$npm_pid/task/$npm_pid/children" 2>/dev/null) "$npm_pid"; do
      kill -KILL "$pid" 2>/dev/null || true
    done
  fi
  rm -f "$log"
}
trap cleanup EXIT

# 1. npm start, on a free port, memory-only.
env -i PATH="$PATH" HOME="$HOME" PORT=0 OTLP_HTTP_PORT=0 OTLP_GRPC_PORT=0 PERF_SIDECAR_NODE_VERSION="$SMOKE_NODE_VERSION" PERF_SIDECAR_NODE_EXACT=1 \
  scripts/with-node.sh npm start >"$log" 2>&1 &
wrapper_pid=$!
url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's/.*"url":"\(http:\/\/127\.0\.0\.1:[0-9]*\)".*/\1/p' "$log" | head -1)"
  [[ -n "$url" ]] && break
  kill -0 "$wrapper_pid" 2>/dev/null || break
  sleep 0.2
done
[[ -n "$url" ]] || fail "npm start did not report a URL within 20 s; its output:
$(cat "$log")"
npm_pid="$wrapper_pid" # with-node.sh execs npm, so this is npm's pid
body="$(exact node -e "fetch('$url/livez').then(async (r) => { const t = await r.text(); console.log(r.status, t); })")"
[[ "$body" == '200 {"status":"pass"}' ]] || fail "/livez answered: $body"
echo "smoke: npm start serves $url, /livez: $body"
page="$(exact node -e "fetch('$url/').then(async (r) => { const t = await r.text(); console.log(r.status, r.headers.get('content-type'), /<script type=\"module\" src=\"\/ui\/app\.[A-Za-z0-9]+\.js\">/.test(t)); })")"
[[ "$page" == '200 text/html; charset=utf-8 true' ]] || fail "the dashboard page at / answered: $page"
echo "smoke: the dashboard page at $url/ is served"

# 2. SIGTERM to the process npm spawned; the server must stop, npm must exit 0.
server_pid="$(cat "/proc/$npm_pid/task/$npm_pid/children" 2>/dev/null | tr -d ' ')"
[[ "$server_pid" =~ ^[0-9]+$ ]] || fail "npm has not exactly one child process: '$server_pid'"
kill -TERM "$server_pid"
status=""
for _ in $(seq 1 75); do
  if ! kill -0 "$npm_pid" 2>/dev/null; then
    wait "$npm_pid" && status=0 || status=$?
    break
  fi
  sleep 0.2
done
[[ -n "$status" ]] || fail "npm start still running 15 s after SIGTERM to its child $server_pid"
[[ "$status" == 0 ]] || fail "npm start exited $status after SIGTERM; output:
$(cat "$log")"
grep -q 'perf-sidecar stopped' "$log" || fail "no 'perf-sidecar stopped' line after SIGTERM"
npm_pid=""
echo "smoke: SIGTERM to npm's child stopped the server, npm exited 0"

# 3. A tracked operation under the preload, resolved by the package's own name.
env -i PATH="$PATH" HOME="$HOME" PERF_SIDECAR_NODE_VERSION="$SMOKE_NODE_VERSION" PERF_SIDECAR_NODE_EXACT=1 \
  LOG_LEVEL=warn timeout 60 scripts/with-node.sh node --import perf-sidecar/register scripts/smoke-app.mjs ||
  fail "the preload app did not record its operation on Node $SMOKE_NODE_VERSION (exit $?)"

# 4. The demo runs .ts files: it states its own minimum, checked on both sides of it.
demo_log="$(mktemp)"
if env -i PATH="$PATH" HOME="$HOME" PERF_SIDECAR_NODE_VERSION="$SMOKE_NODE_VERSION" PERF_SIDECAR_NODE_EXACT=1 \
  timeout 60 scripts/with-node.sh npm run demo -- --count 1 >"$demo_log" 2>&1; then
  fail "npm run demo ran on Node $SMOKE_NODE_VERSION, below the 22.18 it states"
fi
grep -q 'needs Node 22.18 or newer' "$demo_log" || fail "npm run demo on Node $SMOKE_NODE_VERSION did not say what it needs:
$(cat "$demo_log")"
echo "smoke: npm run demo on Node $SMOKE_NODE_VERSION says it needs Node 22.18 or newer"
ts_version="${SMOKE_TS_NODE_VERSION:-22.18.0}"
# Fetched here, with the caller's environment (registry settings, extra CA certificates): the run
# below has a bare environment, as a user's shell would.
ts_node="$(PERF_SIDECAR_NODE_VERSION="$ts_version" PERF_SIDECAR_NODE_EXACT=1 scripts/with-node.sh node -p 'process.versions.node')" ||
  fail "could not provide Node $ts_version"
[[ "$ts_node" == "$ts_version" ]] || fail "expected Node $ts_version, got $ts_node"
if ! env -i PATH="$PATH" HOME="$HOME" PERF_SIDECAR_NODE_VERSION="$ts_version" PERF_SIDECAR_NODE_EXACT=1 LOG_LEVEL=warn \
  DATABASE_URL="${SMOKE_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}" \
  timeout 120 scripts/with-node.sh npm run demo -- --count 5 --speed 1000 --port 0 --schema perf_smoke_demo \
  >"$demo_log" 2>&1 || ! grep -q 'demo finished' "$demo_log"; then
  fail "npm run demo did not finish on Node $ts_version:
$(tail -30 "$demo_log")"
fi
rm -f "$demo_log"
echo "smoke: npm run demo finished on Node $ts_version"

echo "smoke: passed on Node $SMOKE_NODE_VERSION"
