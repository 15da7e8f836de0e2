#!/usr/bin/env bash
# make test's suites: the whole suite on SQLite and, beside it on the other core, again on a
# throwaway PostgreSQL 15 (scripts/with-postgres.sh). The two runs share nothing: each has its own
# database, cache folders, static root, ports and servers, and most of their time is spent waiting
# on the gunicorns and browsers they start. The PostgreSQL run's output is printed after the
# SQLite one's; the exit status is non-zero if either failed.
# Usage: scripts/test-both.sh PYTEST [ARG...] (the arguments go to both runs).
set -uo pipefail
if [ $# -eq 0 ]; then
  echo "usage: $0 PYTEST [ARG...]" >&2
  exit 2
fi
log=$(mktemp "${TMPDIR:-/tmp}/ltplabs-test-postgres.XXXXXX")
"$(dirname "$0")/with-postgres.sh" "$@" -q -p no:cacheprovider >"$log" 2>&1 &
postgres_pid=$!
trap 'kill "$postgres_pid" 2>/dev/null; wait "$postgres_pid"; rm -f "$log"; exit 130' INT TERM
"$@"
sqlite=$?
if kill -0 "$postgres_pid" 2>/dev/null; then echo "(the PostgreSQL run is still going)"; fi
wait "$postgres_pid"
postgres=$?
echo
echo "=== the same suite on PostgreSQL 15 (scripts/with-postgres.sh) ==="
cat "$log"
rm -f "$log"
echo
echo "make test: SQLite $([ "$sqlite" -eq 0 ] && echo passed || echo "FAILED (exit $sqlite)"), PostgreSQL $([ "$postgres" -eq 0 ] && echo passed || echo "FAILED (exit $postgres)")"
[ "$sqlite" -eq 0 ] && [ "$postgres" -eq 0 ]
