#!/usr/bin/env bash
# Coordinator benchmarks, SQLite and PostgreSQL side by side:
#   - signed submissions ingested per second through the API
#   - job lease latency p50/p99 with 100k and 1M jobs stored
# Usage: bash bench/coordinator.sh [--quick]   (--quick skips the 1M preload)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
export AGORA_TEST_POSTGRES_DSN="${AGORA_TEST_POSTGRES_DSN:-$(bash scripts/postgres.sh)}"
sizes='100k|1000k'
[ "${1:-}" = --quick ] && sizes='100k'
ingest=$(go test -run '^$' -bench 'BenchmarkIngest' -benchtime 2000x ./http 2>/dev/null | grep -E '^BenchmarkIngest')
lease=$(go test -run '^$' -bench "BenchmarkLease/.*/($sizes)" -benchtime 500x -timeout 60m ./sqldb 2>/dev/null | grep -E '^BenchmarkLease')
printf '%-34s %14s %14s\n' "" sqlite postgres
val() { echo "$1" | grep -E "$2" | grep -oE "[0-9.]+ $3" | awk '{print $1}'; }
printf '%-34s %14s %14s\n' "signed submissions/s" "$(val "$ingest" /sqlite submissions/s)" "$(val "$ingest" /postgres submissions/s)"
for n in 100k 1000k; do
  echo "$sizes" | grep -q "$n" || continue
  for p in p50 p99; do
    printf '%-34s %14s %14s\n' "lease $p ms, $n jobs stored" \
      "$(val "$lease" "/sqlite/$n" "$p-ms")" "$(val "$lease" "/postgres/$n" "$p-ms")"
  done
done
