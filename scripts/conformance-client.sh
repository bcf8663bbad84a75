#!/usr/bin/env bash
# Run the official MCP conformance suite's client authorization scenarios against Baton's
# upstream client: the suite starts its own MCP server and authorization server per
# scenario and runs `baton conformance-client URL`, which connects through Baton's
# streamable HTTP client and OAuth client (sign-in, step-up, refresh) and calls the tools.
#
#   scripts/conformance-client.sh          # uses $BATON_BIN, else $CARGO_TARGET_DIR/debug/baton
#
# Scenarios: the 14 `auth/*` client scenarios the 2025-11-25 revision requires, the
# `auth/client-credentials-basic` extension (Baton's `grant: client_credentials`), and the
# 11 `auth/*` scenarios 2026-07-28 added; each at its own wire.
# Output ($CONFORMANCE_OUT, default docs/conformance-runs/, git-ignored): client/<scenario>-<time>/
# checks.json and client-summary.json; on stdout `conformance client: N passed, M failed,
# W warnings` and one line per scenario. Exit 0 when every scenario ran (whatever its
# checks say), 2 when something is missing or a scenario wrote no results.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="$ROOT/.peers/bin"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baton/target}"
BATON_BIN="${BATON_BIN:-$CARGO_TARGET_DIR/debug/baton}"
OUT="${CONFORMANCE_OUT:-$ROOT/docs/conformance-runs}/client"
SCENARIOS=(
  auth/metadata-default auth/metadata-var1 auth/metadata-var2 auth/metadata-var3
  auth/basic-cimd auth/scope-from-www-authenticate auth/scope-from-scopes-supported
  auth/scope-omitted-when-undefined auth/scope-step-up auth/scope-retry-limit
  auth/token-endpoint-auth-basic auth/token-endpoint-auth-post auth/token-endpoint-auth-none
  auth/pre-registration auth/client-credentials-basic
  auth/resource-mismatch auth/offline-access-scope auth/offline-access-not-supported
  auth/authorization-server-migration auth/iss-supported auth/iss-not-advertised
  auth/iss-supported-missing auth/iss-wrong-issuer auth/iss-unexpected auth/iss-normalized
  auth/metadata-issuer-mismatch
)

die() { printf 'conformance-client.sh: %s\n' "$*" >&2; exit 2; }
for tool in conformance python; do
  [[ -x "$PEERS/$tool" ]] || die "$PEERS/$tool is missing: run scripts/install-peers.sh"
done
[[ -x "$BATON_BIN" ]] || die "no Baton binary at $BATON_BIN: build it (cargo build -p baton) or set BATON_BIN"

rm -rf "$OUT"
mkdir -p "$OUT"
for scenario in "${SCENARIOS[@]}"; do
  name="${scenario//\//-}"
  set +e
  "$PEERS/conformance" client --command "$BATON_BIN conformance-client" --scenario "$scenario" \
    --timeout 60000 -o "$OUT" >"$OUT/$name.log" 2>&1
  code=$?
  set -e
  [[ $code -eq 0 || $code -eq 1 ]] || { tail -n 20 "$OUT/$name.log" >&2; die "the suite exited with $code for $scenario"; }
  compgen -G "$OUT/$scenario-[0-9][0-9][0-9][0-9]-*/checks.json" >/dev/null || die "no results for $scenario (log: $OUT/$name.log)"
done

"$PEERS/python" - "$OUT" "${SCENARIOS[@]}" <<'PY'
import glob, json, os, sys
out, scenarios = sys.argv[1], sys.argv[2:]
summary, totals = {}, {"passed": 0, "failed": 0, "warnings": 0}
for scenario in scenarios:
    name = scenario.replace("/", "-")
    path = sorted(glob.glob(os.path.join(out, scenario + "-[0-9][0-9][0-9][0-9]-*", "checks.json")))[-1]
    counts = {"passed": 0, "failed": 0, "warnings": 0}
    problems = []
    for check in json.load(open(path)):
        key = {"SUCCESS": "passed", "FAILURE": "failed", "WARNING": "warnings"}.get(check.get("status"))
        if key:
            counts[key] += 1
        if key in ("failed", "warnings"):
            problems.append({"id": check.get("id"), "message": check.get("errorMessage") or check.get("description")})
    summary[scenario] = {**counts, "problems": problems}
    for key in totals:
        totals[key] += counts[key]
json.dump({"totals": totals, "scenarios": summary}, open(os.path.join(out, "..", "client-summary.json"), "w"), indent=2)
print(f"conformance client: {totals['passed']} passed, {totals['failed']} failed, {totals['warnings']} warnings")
for scenario, s in summary.items():
    mark = "ok" if s["failed"] == 0 and s["warnings"] == 0 else "FAIL"
    print(f"  {mark:4} {scenario}: {s['passed']} passed, {s['failed']} failed, {s['warnings']} warnings")
PY
