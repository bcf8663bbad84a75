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
cargo test --workspace --locked
