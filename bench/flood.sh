#!/usr/bin/env bash
# Floods a real `agora coordinator` with huge request bodies and prints what
# it costs: the coordinator's VmRSS (before, peak, after) and the latency of
# signed requests made during the flood.
#   bench/flood.sh                 4 x 20 unsigned 250 MiB bodies
#   CONNS=8 ROUNDS=5 bench/flood.sh
#   FORGED=1 bench/flood.sh        bodies claiming to be the owner, signed by another key
#   AGORA_BIN=/path/agora bench/flood.sh   a prebuilt binary (e.g. an older commit)
# Targets: peak VmRSS under 300 MiB; every signed request answered in under 1 s.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
tmp=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; wait "${pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
agora=${AGORA_BIN:-$tmp/agora}
[ -n "${AGORA_BIN:-}" ] || go build -o "$tmp/agora" ./cmd/agora
go build -o "$tmp/flood" ./bench/flood
owner=5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY # //Alice
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$agora" coordinator --listen "127.0.0.1:$port" --data-dir "$tmp/data" --owner "$owner" --rate 1000 --burst 1000 2>"$tmp/coordinator.log" &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
echo "coordinator      pid $pid on 127.0.0.1:$port ($(go version | cut -d' ' -f3), $(nproc) cores)"
forged=; [ "${FORGED:-0}" = 1 ] && forged=-forged
"$tmp/flood" -url "http://127.0.0.1:$port" -pid "$pid" -owner-uri //Alice \
  -size "${SIZE:-262144000}" -conns "${CONNS:-4}" -rounds "${ROUNDS:-20}" $forged
