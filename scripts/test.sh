#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the MCP peers the tests talk to
# (into .peers/, git-ignored), then checks formatting and lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Reuse a build cache outside the clone when there is one; never depend on it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baton/target}"
mkdir -p "$CARGO_TARGET_DIR"

scripts/install-peers.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Doc tests are left out (there are none worth running); the tally below is the closing
# line, so a run that executed no test cannot look like a pass.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Every test binary runs even after one failed (a failure must not hide the others'
# results); the tally is printed either way and the run fails if cargo did.
status=0
cargo test --workspace --locked --all-targets --no-fail-fast 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { passed += $4; failed += $6 } END {
  if (passed == 0) { print "no test ran"; exit 1 }
  printf "tests: %d passed, %d failed\n", passed, failed
}' "$log"
if [ "$status" -ne 0 ]; then
  grep -E '^    [a-z_:0-9]+$' "$log" | sort -u | sed 's/^ */failed: /' || true
  exit "$status"
fi
