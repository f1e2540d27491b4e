#!/usr/bin/env bash
# bench/guard.sh: what the runner guard (harness/guard.go) costs.
#
# Evaluates the gold patches of the shared SWE-bench instances with the
# guard on and off (agora eval's hidden --no-guard), ROUNDS times each,
# alternating on/off/off/on so drift on a shared machine falls on both
# sides, and prints per instance the median test-step time (the sandboxed
# test command, where the guard runs) and overall the summed test time and
# wall time, side by side. Environment layers and checkouts are built by a
# warm-up run first, so only the test runs are compared.
#
#   bash bench/guard.sh [ROUNDS]        (default 2; needs the mirrors)
#
# Environment: INSTANCES (default /work/shared/swebench/instances.jsonl),
# REPO_SOURCE (default /work/.mirror/{owner}+{name}/repo), WORKERS (1).
set -euo pipefail
ROUNDS=${1:-2}
INSTANCES=${INSTANCES:-/work/shared/swebench/instances.jsonl}
REPO_SOURCE=${REPO_SOURCE:-'/work/.mirror/{owner}+{name}/repo'}
WORKERS=${WORKERS:-1}
cd "$(dirname "$0")/.."
out=$(mktemp -d /tmp/agora-guard-bench.XXXXXX)
go build -o "$out/agora" ./cmd/agora

run() { # run NAME [flags...]: one evaluation, wall seconds appended to $out/wall
	local name=$1; shift
	local t0 t1
	t0=$(date +%s.%N)
	"$out/agora" eval --instances "$INSTANCES" --predictions gold --repo-source "$REPO_SOURCE" \
		--workers "$WORKERS" --run-id "$name" --report-dir "$out/r" "$@" >"$out/$name.log" 2>&1
	t1=$(date +%s.%N)
	echo "$name $(echo "$t1 - $t0" | bc)" >>"$out/wall"
	tail -1 "$out/$name.log"
}

run warmup >/dev/null
for i in $(seq 1 "$ROUNDS"); do
	if (( i % 2 )); then order="on off"; else order="off on"; fi
	for mode in $order; do
		if [ "$mode" = off ]; then run "off$i" --no-guard; else run "on$i"; fi
	done
done

/usr/bin/python3 - "$out" "$ROUNDS" <<'EOF'
import glob, json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
wall = dict(l.split() for l in open(os.path.join(out, "wall")))
def tests(run):
    t, res = {}, {}
    for f in glob.glob(os.path.join(out, "r/logs/run_evaluation", run, "gold", "*", "agora.json")):
        d = json.load(open(f))
        t[d["instance_id"]] = d["timings_ms"]["test"] / 1000
        res[d["instance_id"]] = (d.get("resolution"), d.get("runner_guard"))
    return t, res
on = [tests("on%d" % i) for i in range(1, rounds + 1)]
off = [tests("off%d" % i) for i in range(1, rounds + 1)]
ids = sorted(set(on[0][0]) | set(off[0][0]))
print("%-28s %10s %10s %8s  %s" % ("instance (test step, median)", "off s", "on s", "added", "resolution on / guarded"))
for i in ids:
    a = statistics.median(r[0].get(i, float("nan")) for r in off)
    b = statistics.median(r[0].get(i, float("nan")) for r in on)
    res, g = on[0][1].get(i, (None, None))
    print("%-28s %10.2f %10.2f %7.1f%%  %s / %s" % (i, a, b, 100 * (b - a) / a if a else float("nan"), res, g))
sa = statistics.median(sum(r[0].values()) for r in off)
sb = statistics.median(sum(r[0].values()) for r in on)
wa = statistics.median(float(wall["off%d" % i]) for i in range(1, rounds + 1))
wb = statistics.median(float(wall["on%d" % i]) for i in range(1, rounds + 1))
print("%-28s %10.2f %10.2f %7.1f%%" % ("sum of test steps", sa, sb, 100 * (sb - sa) / sa))
print("%-28s %10.2f %10.2f %7.1f%%" % ("wall time, 13 instances", wa, wb, 100 * (wb - wa) / wa))
print("runs:", out)
EOF
