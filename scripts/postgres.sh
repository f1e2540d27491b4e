#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server from Debian's packages for the tests
# and prints its connection URL. The server runs as the postgres user on a
# private data directory and a Unix socket, so it touches no system cluster.
#   scripts/postgres.sh          start (idempotent) and print the DSN
#   scripts/postgres.sh stop     stop it
set -euo pipefail
DATA=${AGORA_PG_DATA:-/tmp/agora-postgres}
PORT=${AGORA_PG_PORT:-55432}
SOCK=$DATA/sock
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  echo "installing: postgresql" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi; }
if [ "${1:-}" = stop ]; then
  [ -d "$DATA" ] && as_pg "$BIN/pg_ctl" -D "$DATA/db" -m fast stop >/dev/null 2>&1 || true
  exit 0
fi
if [ ! -f "$DATA/db/PG_VERSION" ]; then
  rm -rf "$DATA"
  mkdir -p "$DATA/db" "$SOCK"
  chown -R postgres: "$DATA"
  as_pg "$BIN/initdb" -D "$DATA/db" -U postgres -A trust -E UTF8 --no-locale >/dev/null
fi
if ! as_pg "$BIN/pg_ctl" -D "$DATA/db" status >/dev/null 2>&1; then
  # fsync stays on: the coordinator's durability tests rely on it.
  as_pg "$BIN/pg_ctl" -D "$DATA/db" -l "$DATA/log" -w \
    -o "-p $PORT -k $SOCK -c listen_addresses='' -c max_connections=200" start >/dev/null
fi
echo "postgres://postgres@/postgres?host=$SOCK&port=$PORT&sslmode=disable"
