#!/usr/bin/env bash
# Instructions per proxied call of one or more `baton` binaries, counted by callgrind
# (deterministic: the same binary and inputs give the same count whatever else the machine
# does, so an A/B needs no quiet machine). Each binary serves `baton-bench`'s load twice,
# with N1 and N2 measured calls; (Ir(N2) − Ir(N1)) / (N2 − N1) leaves out start-up.
#
#   scripts/callgrind-per-call.sh [--transport stdio|http] [--http-upstream http|stdio]
#                                 [--concurrency C] BATON [BATON ...]
#
# Prints Ir per call for each binary and its ratio to the first. Needs valgrind (on every
# machine of this kind) and a release build of baton-bench (its default location, or
# $BATON_BENCH). Under valgrind a call takes ~50× longer: the counts are small on purpose.
set -euo pipefail

TRANSPORT=stdio
CONCURRENCY=8
HTTP_UPSTREAM=http
N1=300
N2=900
while [[ $# -gt 0 ]]; do
  case "$1" in
    --transport) TRANSPORT="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --http-upstream) HTTP_UPSTREAM="$2"; shift 2 ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || { echo "usage: $0 [--transport stdio|http] [--http-upstream http|stdio] [--concurrency C] BATON [BATON ...]" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/baton/target}"
BENCH="${BATON_BENCH:-$TARGET/release/baton-bench}"
[[ -x "$BENCH" ]] || { echo "no baton-bench at $BENCH: cargo build --release -p baton-bench" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# baton-bench starts "baton" through this wrapper: the real binary under callgrind.
cat >"$WORK/wrap.sh" <<'EOF'
#!/bin/sh
exec valgrind --tool=callgrind --log-file="$CG_DIR/valgrind.%p.log" \
  --callgrind-out-file="$CG_DIR/$CG_TAG.%p.out" "$BATON_REAL" "$@"
EOF
chmod +x "$WORK/wrap.sh"

total_ir() { # files... -> summed Ir of the callgrind outputs
  awk '/^summary:/ { sum += $2 } END { print sum + 0 }' "$@"
}

first=""
for baton in "$@"; do
  per_run=()
  for calls in "$N1" "$N2"; do
    dir="$WORK/$(basename "$baton").$calls"
    mkdir -p "$dir"
    # A run under valgrind may miss the bench's start-up grace for the upstream: retried.
    for attempt in 1 2 3; do
      rm -f "$dir"/*.out
      if CG_DIR="$dir" CG_TAG=run BATON_REAL="$(realpath "$baton")" "$BENCH" --baton "$WORK/wrap.sh" \
          --transport "$TRANSPORT" --http-upstream "$HTTP_UPSTREAM" --concurrency "$CONCURRENCY" --calls "$calls" --warmup 20 \
          --rounds 1 --max-secs 900 >"$dir/bench.log" 2>&1; then
        break
      fi
      [[ $attempt == 3 ]] && { echo "baton-bench failed 3 times for $baton:" >&2; cat "$dir/bench.log" >&2; exit 1; }
    done
    per_run+=("$(total_ir "$dir"/*.out)")
  done
  per_call=$(( (per_run[1] - per_run[0]) / (N2 - N1) ))
  [[ -n "$first" ]] || first="$per_call"
  ratio=$(awk -v a="$per_call" -v b="$first" 'BEGIN { printf "%.2f", a / b }')
  [[ $TRANSPORT == http ]] && label="http (upstream $HTTP_UPSTREAM)" || label="$TRANSPORT"
  printf '%s\t%s c=%s\tIr/call %d\t× first %s\n' "$baton" "$label" "$CONCURRENCY" "$per_call" "$ratio"
done
