#!/usr/bin/env bash
# Run the official MCP conformance suite (server side) against Baton, for both spec
# revisions, and summarise the results per scenario.
#
#   scripts/conformance.sh                 # uses $BATON_BIN, else $CARGO_TARGET_DIR/debug/baton
#   BATON_BIN=path/to/baton CONFORMANCE_OUT=/tmp/runs scripts/conformance.sh
#
# Builds nothing. Needs the peers from scripts/install-peers.sh (.peers/bin/conformance,
# .peers/bin/mcp-server-everything, .peers/bin/python with the MCP Python SDK).
#
# Baton fronts three stdio upstreams (see docs/CONFORMANCE.md for why):
#   everything  the reference server-everything (real-world upstream);
#   test        scripts/conformance-fixture.py, our implementation of the suite's fixture
#               contract; with `namespace.separator: "_"` Baton exposes its tool
#               `simple_text` as `test_simple_text`, the name the suite calls;
#   json        the same fixture, only its JSON Schema 2020-12 tool (`json_schema_2020_12_tool`).
#
# Output ($CONFORMANCE_OUT, default docs/conformance-runs/, git-ignored):
#   <revision>/server-<scenario>-<time>/checks.json   the suite's raw results
#   <revision>.log, <revision>.list                    the suite's console output and scenario list
#   baton.log                                          Baton's stderr
#   summary.json                                       per revision and scenario: checks passed/failed
# and on stdout one line `conformance: N passed, M failed` (checks, both revisions) and
# one line per scenario.
#
# Exit status: 0 when the suite ran for every revision, even if checks failed (the suite
# itself exits 1 then); 2 when something is missing, Baton did not start, or the suite did
# not run or produced no results.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="$ROOT/.peers/bin"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baton/target}"
BATON_BIN="${BATON_BIN:-$CARGO_TARGET_DIR/debug/baton}"
OUT="${CONFORMANCE_OUT:-$ROOT/docs/conformance-runs}"
REVISIONS=(2025-11-25 2026-07-28)
START_TIMEOUT_S=30

die() { printf 'conformance.sh: %s\n' "$*" >&2; exit 2; }

for tool in conformance mcp-server-everything python; do
  [[ -x "$PEERS/$tool" ]] || die "$PEERS/$tool is missing: run scripts/install-peers.sh"
done
[[ -x "$BATON_BIN" ]] || die "no Baton binary at $BATON_BIN: build it (cargo build -p baton) or set BATON_BIN"
FIXTURE="$ROOT/scripts/conformance-fixture.py"
[[ -f "$FIXTURE" ]] || die "$FIXTURE is missing"

SUITE_VERSION="$("$PEERS/conformance" --version)" || die "$PEERS/conformance does not run"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/baton-conformance.XXXXXX")"
BATON_PID=""
cleanup() {
  if [[ -n "$BATON_PID" ]] && kill -0 "$BATON_PID" 2>/dev/null; then
    kill "$BATON_PID" 2>/dev/null || true
    wait "$BATON_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$OUT"
for revision in "${REVISIONS[@]}"; do rm -rf "${OUT:?}/$revision" "$OUT/$revision.log"; done
rm -f "$OUT/summary.json" "$OUT/baton.log"

# Paths are written as JSON strings (valid YAML) so that any character in them is safe.
q() { "$PEERS/python" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
cat >"$WORK/baton.yaml" <<EOF
namespace:
  separator: "_"
servers:
  everything:
    command: $(q "$PEERS/mcp-server-everything")
  test:
    command: $(q "$PEERS/python")
    args: [$(q "$FIXTURE")]
  json:
    command: $(q "$PEERS/python")
    args: [$(q "$FIXTURE"), "--only", "json"]
  tasks:
    command: $(q "$PEERS/python")
    args: [$(q "$FIXTURE"), "--only", "tasks"]
    namespace: false
    task_support:
      slow_compute: optional
      failing_job: required
      protocol_error_job: optional
      confirm_delete: optional
      multi_input: optional
      test_tool_with_task: after_input
EOF

# ---- start Baton ------------------------------------------------------------------------
"$BATON_BIN" serve --http 127.0.0.1:0 --config "$WORK/baton.yaml" 2>"$OUT/baton.log" &
BATON_PID=$!
PORT=""
for _ in $(seq $((START_TIMEOUT_S * 10))); do
  if ! kill -0 "$BATON_PID" 2>/dev/null; then
    tail -n 20 "$OUT/baton.log" >&2 || true
    die "baton exited before listening (log: $OUT/baton.log)"
  fi
  PORT="$(sed -n 's#^baton: listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$OUT/baton.log" | head -n 1)"
  [[ -n "$PORT" ]] && break
  sleep 0.1
done
[[ -n "$PORT" ]] || die "baton did not print its listening line within ${START_TIMEOUT_S}s (log: $OUT/baton.log)"
URL="http://127.0.0.1:$PORT/mcp"
# The suite's first scenarios must not race the upstreams' start (four processes start at
# once; on a loaded machine the Python ones take seconds): wait until each is ready.
for server in everything test json tasks; do
  for _ in $(seq $((START_TIMEOUT_S * 10))); do
    grep -q "upstream ready server=$server " "$OUT/baton.log" && break
    sleep 0.1
  done
done

# ---- run the suite ----------------------------------------------------------------------
declare -A EXIT_CODES=()
for revision in "${REVISIONS[@]}"; do
  # --requirements runs exactly the scenarios the revision requires (at that revision's
  # wire), plus the unscored extension / pending / added-after-release ones it reports.
  "$PEERS/conformance" list --server --requirements "$revision" >"$OUT/$revision.list" 2>&1 \
    || die "conformance list --requirements $revision failed"
  set +e
  "$PEERS/conformance" server --url "$URL" --requirements "$revision" -o "$OUT/$revision" \
    >"$OUT/$revision.log" 2>&1
  code=$?
  set -e
  EXIT_CODES[$revision]=$code
  if [[ $code -ne 0 && $code -ne 1 ]]; then
    tail -n 20 "$OUT/$revision.log" >&2 || true
    die "the suite exited with $code for $revision (log: $OUT/$revision.log)"
  fi
  compgen -G "$OUT/$revision/*/checks.json" >/dev/null \
    || die "the suite wrote no results for $revision (log: $OUT/$revision.log)"
done

kill "$BATON_PID" 2>/dev/null || true
wait "$BATON_PID" 2>/dev/null || true
BATON_PID=""

# An upstream that never came up makes its scenarios fail for a reason that is not Baton's
# relaying: say so loudly (the counts in summary.json are then not comparable).
for server in everything test json tasks; do
  grep -q "upstream ready server=$server " "$OUT/baton.log" \
    || printf 'conformance.sh: warning: upstream "%s" never became ready (see %s)\n' "$server" "$OUT/baton.log" >&2
done

# ---- summarise --------------------------------------------------------------------------
exit_codes_json="{"
for revision in "${REVISIONS[@]}"; do exit_codes_json+="\"$revision\": ${EXIT_CODES[$revision]},"; done
exit_codes_json="${exit_codes_json%,}}"

"$PEERS/python" - "$OUT" "$SUITE_VERSION" "$BATON_BIN" "$exit_codes_json" "${REVISIONS[@]}" <<'PY'
import datetime, glob, json, os, re, signal, sys

signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `scripts/conformance.sh | head` stays quiet

out, suite_version, baton_bin, exit_codes = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
revisions = sys.argv[5:]

def scored_and_unscored(revision):
    """Server scenarios the revision requires (scored) and those it only reports."""
    scored, unscored, section = [], [], None
    for line in open(os.path.join(out, f"{revision}.list")):
        text = line.strip()
        if text.startswith("Server scenarios"):
            section = "scored"
        elif text.startswith("Client scenarios"):
            section = None
        elif text.startswith("Run and reported, but never scored"):
            section = "unscored"
        elif text.startswith("- "):
            name = text[2:].split()[0]
            if section == "scored":
                scored.append(name)
            elif section == "unscored" and text.endswith("[server]"):
                unscored.append(name)
    return scored, unscored

def scenario_name(directory):
    base = os.path.basename(directory)
    base = re.sub(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", base)
    return base[len("server-"):] if base.startswith("server-") else base

summary = {
    "suite": {"package": "@modelcontextprotocol/conformance", "version": suite_version},
    "baton": baton_bin,
    "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "commands": {r: f".peers/bin/conformance server --url http://127.0.0.1:PORT/mcp --requirements {r} -o {r}" for r in revisions},
    "revisions": {},
}
grand = {"passed": 0, "failed": 0, "scored_passed": 0, "scored_failed": 0}
lines = []
for revision in revisions:
    scored, unscored = scored_and_unscored(revision)
    scenarios = {}
    for path in sorted(glob.glob(os.path.join(out, revision, "*", "checks.json"))):
        name = scenario_name(os.path.dirname(path))
        checks = json.load(open(path))
        counts = {"passed": 0, "failed": 0, "warnings": 0, "skipped": 0, "info": 0}
        problems = []
        for check in checks:
            status = check.get("status")
            key = {"SUCCESS": "passed", "FAILURE": "failed", "WARNING": "warnings", "SKIPPED": "skipped"}.get(status, "info")
            counts[key] += 1
            if status in ("FAILURE", "WARNING"):
                problems.append({"id": check.get("id"), "status": status, "message": check.get("errorMessage")})
        scenarios[name] = {"scored": name in scored, **counts, "problems": problems}
    for name in scored + unscored:
        if name not in scenarios:  # the suite listed it but wrote no result: count it as failed
            scenarios[name] = {"scored": name in scored, "passed": 0, "failed": 1, "warnings": 0, "skipped": 0,
                               "info": 0, "missing": True,
                               "problems": [{"id": None, "status": "MISSING", "message": "no checks.json was written"}]}
    totals = {"passed": 0, "failed": 0, "scored_passed": 0, "scored_failed": 0,
              "scenarios": len(scenarios), "scenarios_passing": 0,
              "scored_scenarios": 0, "scored_scenarios_passing": 0}
    for name, s in scenarios.items():
        totals["passed"] += s["passed"]
        totals["failed"] += s["failed"]
        totals["scenarios_passing"] += s["failed"] == 0
        if s["scored"]:
            totals["scored_passed"] += s["passed"]
            totals["scored_failed"] += s["failed"]
            totals["scored_scenarios"] += 1
            totals["scored_scenarios_passing"] += s["failed"] == 0
    for key in grand:
        grand[key] += totals[key]
    order = [n for n in scored + unscored if n in scenarios] + sorted(set(scenarios) - set(scored) - set(unscored))
    summary["revisions"][revision] = {
        "suite_exit_code": exit_codes[revision],
        "totals": totals,
        "scenarios": {n: scenarios[n] for n in order},
    }
    for n in order:
        s = scenarios[n]
        mark = "ok  " if s["failed"] == 0 else "FAIL"
        note = "" if s["scored"] else " (not scored)"
        warn = f", {s['warnings']} warnings" if s["warnings"] else ""
        lines.append(f"{mark} {revision} {n}: {s['passed']} passed, {s['failed']} failed{warn}{note}")
summary["totals"] = grand
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")

print(f"conformance: {grand['passed']} passed, {grand['failed']} failed "
      f"(checks, both revisions; scored scenarios only: {grand['scored_passed']} passed, {grand['scored_failed']} failed)")
for revision in revisions:
    t = summary["revisions"][revision]["totals"]
    print(f"  {revision}: {t['passed']} passed, {t['failed']} failed; "
          f"{t['scored_scenarios_passing']}/{t['scored_scenarios']} scored scenarios pass "
          f"(suite exit code {exit_codes[revision]})")
for line in lines:
    print(line)
print(f"summary: {os.path.join(out, 'summary.json')}")
PY
