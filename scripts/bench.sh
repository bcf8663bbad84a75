#!/usr/bin/env bash
# Build Baton and the benchmark in release mode, then measure Baton's overhead against a
# fast native echo upstream: tool-call latency p50/p99 and throughput at concurrency 1, 8
# and 64, direct vs through Baton, over stdio and streamable HTTP (see BENCHMARKS.md).
#
#   scripts/bench.sh                       # full run, table on stdout, JSON in target dir
#   scripts/bench.sh --calls 500 --rounds 1   # quicker; any baton-bench flag is passed on
#   scripts/bench.sh --protocol legacy,modern # also the stateless 2026-07-28 protocol
#
# Honours CARGO_TARGET_DIR. Results are only comparable on an otherwise idle machine:
# the script prints the load average first.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baton/target}"
export CARGO_TARGET_DIR="$TARGET_DIR"

echo "== building (release): baton, baton-bench, baton-echo-upstream" >&2
cargo build --release -p baton -p baton-bench >&2

echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?') on $(nproc 2>/dev/null || echo '?') cores" >&2
JSON="$TARGET_DIR/baton-bench.json"
"$TARGET_DIR/release/baton-bench" \
  --baton "$TARGET_DIR/release/baton" \
  --echo "$TARGET_DIR/release/baton-echo-upstream" \
  --json "$JSON" \
  "$@"
echo "== JSON: $JSON" >&2
