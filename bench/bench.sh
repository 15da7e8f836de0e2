#!/usr/bin/env bash
# Usage: bench.sh BASE_URL TOKEN [WORKLOAD:CONNS ...]
#   WORKLOAD: W1 (GET /health), W2 (GET /api/clients?limit=100), W3 (GET /api/clients, full list),
#             W4 (POST /api/clients, unique e-mail per request), W5 (90% W2 / 10% W4),
#             W6 (POST /api/entitlements/check with record, TOKEN an API key; BENCH_PAIRS: a file of
#             "client_id slug" lines, one request each in turn)
#   default: W1:16 W2:16 W2:64 W3:16 W4:16 W4:64 W5:16
# Each: a WARMUP-second run (not reported), then a DURATION-second run at CONNS connections,
# one wrk thread (THREADS). Prints one RESULT line per workload (requests/s, p50/p99 ms,
# non-2xx, socket errors); for W4/W5 also the warm-up's 2xx so a caller can check the DB.
# Paths can be overridden (e.g. for Datasette): W1_PATH, W2_PATH, W3_PATH; LABEL_SUFFIX tags the lines.
# NB: W4/W5 write; give them a fresh DB. W3 is meant for a --clients 1000 DB.
# Copied from ../shared/peers/bench.sh so the repo carries what `make bench` needs; one change:
# with BENCH_STATUS=1 a write run also reports the warm-up's 201s (warmup_s201), so the caller
# can compare rows written with created answers in the mixed workload.
set -euo pipefail
BASE=${1:?base URL, e.g. http://127.0.0.1:3001}
TOKEN=${2-}
shift 2 || true
SPECS=("$@")
[ ${#SPECS[@]} -gt 0 ] || SPECS=(W1:16 W2:16 W2:64 W3:16 W4:16 W4:64 W5:16)
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-1}
W1_PATH=${W1_PATH:-/health}
W2_PATH=${W2_PATH:-/api/clients?limit=100}
W3_PATH=${W3_PATH:-/api/clients}
HERE=$(cd "$(dirname "$0")" && pwd)

for spec in "${SPECS[@]}"; do
  w=${spec%%:*}; c=${spec##*:}
  case $w in
    W1) mode=get; path=$W1_PATH ;;
    W2) mode=get; path=$W2_PATH ;;
    W3) mode=get; path=$W3_PATH ;;
    W4) mode=post; path=/api/clients ;;
    W5) mode=mixed; path=$W2_PATH ;;
    W6) mode=check; path=/api/entitlements/check ;;
    *) echo "unknown workload $w" >&2; exit 2 ;;
  esac
  tag="$(date +%s%N)$RANDOM"
  warm=$(BENCH_MODE=$mode BENCH_TOKEN=$TOKEN BENCH_TAG="w$tag" BENCH_LABEL="$w-warmup" \
    timeout $((WARMUP + 30)) wrk -t"$THREADS" -c"$c" -d"${WARMUP}s" --timeout 10s -s "$HERE/bench.lua" "$BASE$path" | grep '^RESULT')
  res=$(BENCH_MODE=$mode BENCH_TOKEN=$TOKEN BENCH_TAG="m$tag" BENCH_LABEL="$w" \
    timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$c" -d"${DURATION}s" --timeout 10s -s "$HERE/bench.lua" "$BASE$path" | grep '^RESULT')
  extra=""
  if [ "$mode" != get ]; then
    extra=" warmup_ok2xx=$(sed -n 's/.* ok2xx=\([0-9]*\).*/\1/p' <<<"$warm") warmup_non2xx=$(sed -n 's/.* non2xx=\([0-9]*\).*/\1/p' <<<"$warm") warmup_s201=$(sed -n 's/.* s201=\([0-9]*\).*/\1/p' <<<"$warm") warmup_s200=$(sed -n 's/.* s200=\([0-9]*\).*/\1/p' <<<"$warm")"
  fi
  echo "${res/RESULT label=$w /RESULT label=$w${LABEL_SUFFIX-} conns=$c }$extra"
done
