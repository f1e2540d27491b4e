#!/usr/bin/env bash
# Task-forge throughput: mines each repository for a date window with
# `agora forge mine` and prints, per repository, candidates per hour,
# validation yield, and where the time went (listing history, sandboxed
# runs — of which test commands — and the forge's own work).
#
#   bash bench/forge.sh [MIRRORS] [SINCE] [UNTIL] [LIMIT]
#
# MIRRORS holds bare mirrors as owner+name/repo (default /work/.mirror).
# Needs root (sandboxes) and the SWE-bench Debian packages
# (bash scripts/deps.sh swebench).
set -euo pipefail
cd "$(dirname "$0")/.."
mirrors=${1:-/work/.mirror}
since=${2:-2022-06-01}
until=${3:-2023-09-01}
limit=${4:-3}
out=$(mktemp -d)
go build -o "$out/agora" ./cmd/agora
printf '%-22s %8s %6s %6s %7s %7s %9s %9s %9s %9s\n' repo commits cands kept yield cand/h list_s run_s test_s other_s
for dir in "$mirrors"/*+*/repo; do
  name=$(basename "$(dirname "$dir")")
  case $name in SWE-bench+*|*BitSota*|*ridges*) continue ;; esac
  "$out/agora" forge mine --repo "$dir" --since "$since" --until "$until" --limit "$limit" \
    --out "$out/$name.jsonl" --stats "$out/$name.stats.json" >/dev/null 2>"$out/$name.log" || { echo "$name: failed, see $out/$name.log"; continue; }
  /usr/bin/python3 - "$name" "$out/$name.stats.json" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
s = json.load(open(path))
validated = s["kept"] + s["rejected"]
yld = f'{100*s["kept"]/validated:.0f}%' if validated else "-"
hours = s["elapsed_ms"] / 3.6e6
per_h = f'{s["considered"]/hours:.0f}' if hours else "-"
other = (s["validate_ms"] - s["run_ms"]) / 1000
print(f'{name:22} {s["commits"]:8} {s["candidates"]:6} {s["kept"]:6} {yld:>7} {per_h:>7} {s["list_ms"]/1000:9.1f} {s["run_ms"]/1000:9.1f} {s["test_ms"]/1000:9.1f} {other:9.1f}')
PY
done
echo "tasks and stats: $out"
