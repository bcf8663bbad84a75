#!/usr/bin/env bash
# A/B of Baton revisions in one run: the working tree's Baton against each given git
# revision, and the floor relay (`baton-floor-relay`, the least an HTTP → stdio relay does),
# each in front of the same native echo upstream, driven by the same client over streamable
# HTTP, taking turns within every round with the order rotating (`baton-bench --baton-also`,
# see BENCHMARKS.md). Every figure is also printed as a multiple of the working tree's, so a
# ratio holds on a machine whose absolute speed differs from the one a target was set on.
#
#   scripts/bench-ab.sh 485f50c                          # HEAD's tree vs 485f50c, c=1 and 8
#   scripts/bench-ab.sh 485f50c 6c9029f -- --calls 500 --rounds 1   # flags go to baton-bench
#   scripts/bench-ab.sh --no-floor HEAD~1                # without the floor relay
#
# Each revision is checked out (git worktree) under $BATON_AB_DIR (default
# $HOME/.cache/baton/ab) and built in release mode there, in one shared target directory, so
# a second run with the same revision builds nothing. The working tree is built in
# CARGO_TARGET_DIR (default $HOME/.cache/baton/target). Loopback only; every process the
# benchmark starts is stopped when it ends. Absolute CPU figures follow the machine's load:
# the script prints the load average first, and only the ratios of one run compare.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
log() { printf '[bench-ab] %s\n' "$*" >&2; }
die() { printf '[bench-ab] ERROR: %s\n' "$*" >&2; exit 1; }

FLOOR=1
REVS=()
PASS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-floor) FLOOR=0; shift ;;
    --) shift; PASS=("$@"); break ;;
    -*) die "unknown option $1 (baton-bench flags go after --)" ;;
    *) REVS+=("$1"); shift ;;
  esac
done
[[ ${#REVS[@]} -gt 0 ]] || die "usage: scripts/bench-ab.sh [--no-floor] REV [REV ...] [-- baton-bench flags]"
HAS_CONCURRENCY=0
for arg in "${PASS[@]}"; do
  if [[ "$arg" == --concurrency* ]]; then HAS_CONCURRENCY=1; fi
done
((HAS_CONCURRENCY)) || PASS=(--concurrency 1,8 "${PASS[@]}")

TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/baton/target}"
AB_DIR="${BATON_AB_DIR:-$HOME/.cache/baton/ab}"
mkdir -p "$AB_DIR"
# baton-bench splits a gateway's command line at whitespace.
[[ "$TARGET$AB_DIR" != *[[:space:]]* ]] || die "a build directory's path contains whitespace"

log "building the working tree (release): baton, baton-bench, baton-echo-upstream, baton-floor-relay"
CARGO_TARGET_DIR="$TARGET" cargo build --release -p baton -p baton-bench >&2

ALSO=()
for rev in "${REVS[@]}"; do
  commit="$(git rev-parse --verify --quiet "$rev^{commit}")" || die "no such revision: $rev"
  short="$(git rev-parse --short "$commit")"
  tree="$AB_DIR/worktrees/$short"
  if [[ ! -d "$tree" ]]; then
    git worktree prune
    git worktree add --detach "$tree" "$commit" >/dev/null || die "cannot check out $rev into $tree"
  fi
  log "building $rev ($short) in $tree"
  (cd "$tree" && CARGO_TARGET_DIR="$AB_DIR/target" cargo build --release -p baton >&2) ||
    die "$rev ($short) does not build"
  mkdir -p "$AB_DIR/bin/$short"
  cp "$AB_DIR/target/release/baton" "$AB_DIR/bin/$short/baton"
  ALSO+=(--baton-also "baton $short ($rev)=$AB_DIR/bin/$short/baton")
done
if ((FLOOR)); then
  ALSO+=(--gateway "floor relay=$TARGET/release/baton-floor-relay --listen 127.0.0.1:{port} -- {upstream} --stdio")
fi

log "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
exec "$TARGET/release/baton-bench" \
  --baton "$TARGET/release/baton" \
  --echo "$TARGET/release/baton-echo-upstream" \
  "${ALSO[@]}" "${PASS[@]}"
