#!/usr/bin/env bash
# A profile-guided (PGO) release build of `baton`: an instrumented build serves
# `baton-bench`'s load (streamable HTTP and stdio, both protocol eras, concurrency 1 and 8,
# in front of the native echo upstream), the profile it writes is merged with the
# `llvm-profdata` of rustc's own LLVM version, and `baton` is built again with it.
#
#   scripts/build-pgo.sh [--calls N] [--profile release|dist]
#
# N: measured calls per cell of the training run. --profile: the cargo profile of both builds
# of `baton`: `release` (default) or `dist` (Cargo.toml: fat LTO, one codegen unit; slower
# to build, faster to run: BENCHMARKS.md).
#
# Prints the optimized binary's path (also copied to $BATON_PGO_DIR/baton, or baton-dist).
# Builds go to $BATON_PGO_DIR (default $HOME/.cache/baton/pgo): `gen/` (instrumented) and
# `use/` (optimized) targets, `profiles/` for the raw and merged profiles; the training run uses
# the release `baton-bench` and echo upstream of CARGO_TARGET_DIR (built if missing).
# Two release builds of `baton`: about twice a plain release build's time. Loopback only.
# A/B the result against the plain build with `baton-bench --baton-also` (BENCHMARKS.md).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
log() { printf '[build-pgo] %s\n' "$*" >&2; }
die() { printf '[build-pgo] ERROR: %s\n' "$*" >&2; exit 1; }

CALLS=1500
PROFILE=release
while [[ $# -gt 0 ]]; do
  case "$1" in
    --calls) [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || die "--calls needs a positive number"
      CALLS="$2"; shift 2 ;;
    --profile) [[ $# -ge 2 && "$2" =~ ^(release|dist)$ ]] || die "--profile is release or dist"
      PROFILE="$2"; shift 2 ;;
    *) die "unknown argument $1 (usage: scripts/build-pgo.sh [--calls N] [--profile release|dist])" ;;
  esac
done
OUT="$([[ "$PROFILE" == release ]] && echo baton || echo "baton-$PROFILE")"

TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/baton/target}"
PGO_DIR="${BATON_PGO_DIR:-$HOME/.cache/baton/pgo}"
[[ "$TARGET$PGO_DIR" != *[[:space:]]* ]] || die "a build directory's path contains whitespace"

# The profile format follows LLVM's major version: use rustc's.
llvm_major="$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')"
[[ -n "$llvm_major" ]] || die "cannot read rustc's LLVM version from 'rustc -vV'"
find_profdata() {
  for candidate in "llvm-profdata-$llvm_major" "/usr/lib/llvm-$llvm_major/bin/llvm-profdata"; do
    if command -v "$candidate" >/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}
if ! PROFDATA="$(find_profdata)"; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    log "installing llvm-$llvm_major (llvm-profdata for rustc's LLVM $llvm_major)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "llvm-$llvm_major" >&2 ||
      die "apt-get install llvm-$llvm_major failed"
    PROFDATA="$(find_profdata)" || die "llvm-$llvm_major is installed but has no llvm-profdata"
  else
    die "no llvm-profdata for LLVM $llvm_major: install llvm-$llvm_major (Debian) or rustup's llvm-tools"
  fi
fi
log "llvm-profdata: $PROFDATA"

log "building baton-bench and the echo upstream (release)"
CARGO_TARGET_DIR="$TARGET" cargo build --release -p baton-bench >&2

RAW="$PGO_DIR/profiles/raw"
rm -rf "$RAW"
mkdir -p "$RAW"

log "building the instrumented baton"
CARGO_TARGET_DIR="$PGO_DIR/gen" RUSTFLAGS="-Cprofile-generate=$RAW" \
  cargo build --profile "$PROFILE" -p baton --bin baton >&2

log "training: $CALLS calls per cell"
"$TARGET/release/baton-bench" --baton "$PGO_DIR/gen/$PROFILE/baton" \
  --echo "$TARGET/release/baton-echo-upstream" \
  --protocol legacy,modern --transport http,stdio --http-upstream stdio \
  --concurrency 1,8 --calls "$CALLS" --rounds 1 >/dev/null
compgen -G "$RAW/*.profraw" >/dev/null ||
  die "the training run left no profile in $RAW (did baton exit cleanly?)"
"$PROFDATA" merge -o "$PGO_DIR/profiles/merged.profdata" "$RAW"
# Named by its content: cargo rebuilds when RUSTFLAGS change, not when a file they name does.
digest="$(sha256sum "$PGO_DIR/profiles/merged.profdata" | cut -c1-16)"
MERGED="$PGO_DIR/profiles/baton-$digest.profdata"
rm -f "$PGO_DIR"/profiles/baton-*.profdata
mv "$PGO_DIR/profiles/merged.profdata" "$MERGED"

log "building the optimized baton"
CARGO_TARGET_DIR="$PGO_DIR/use" RUSTFLAGS="-Cprofile-use=$MERGED" \
  cargo build --profile "$PROFILE" -p baton --bin baton >&2
cp "$PGO_DIR/use/$PROFILE/baton" "$PGO_DIR/$OUT"
echo "$PGO_DIR/$OUT"
