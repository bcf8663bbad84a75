#!/usr/bin/env bash
# Durable-engine benchmark on both stores, in one run: steps/s and dispatch latency on
# SQLite and PostgreSQL, one vs two workers, take-over time of a dead worker's run, and
# DBOS Transact (PyPI `dbos`, on the same PostgreSQL) as the peer. See BENCHMARKS.md.
#
#   scripts/bench-store.sh                  # full run
#   scripts/bench-store.sh --trials 5       # any baton-workflow-bench flag is passed on
#
# Needs the PostgreSQL of BATON_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/baton/target}"
export CARGO_TARGET_DIR="$TARGET_DIR"
ADMIN="${BATON_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

echo "== building (release): baton-workflow-bench" >&2
cargo build --release -p baton-bench --bin baton-workflow-bench >&2

VENV="$TARGET_DIR/dbos-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import dbos" 2>/dev/null; then
  echo "== installing DBOS Transact into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "dbos==3.4.0"
fi

"$TARGET_DIR/release/baton-workflow-bench" "$@"

# The peer: a sequential workflow of no-op steps, on a fresh database of the same server.
DB="baton_dbos_$$"
BASE="${ADMIN%/*}"
psql "$ADMIN" -qc "CREATE DATABASE $DB" >/dev/null
trap 'psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null' EXIT
echo
echo "## Peer: DBOS Transact $("$VENV/bin/pip" show dbos 2>/dev/null | awk '/^Version/ {print $2}') (sequential workflow of no-op steps, PostgreSQL)"
echo
"$VENV/bin/python" scripts/bench/dbos_steps.py "${BASE/postgres:/postgresql:}/$DB" 1000 3 2>/dev/null
