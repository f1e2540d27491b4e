#!/usr/bin/env bash
# Runs all of Agora's tests: formatting, vet, then every package's tests,
# sandbox tests included (they need root: namespaces, cgroups, overlayfs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# Storage and API tests run against SQLite and a real PostgreSQL server.
export AGORA_TEST_POSTGRES_DSN="${AGORA_TEST_POSTGRES_DSN:-$(bash scripts/postgres.sh)}"
export AGORA_REQUIRE_POSTGRES=1
export PATH="$PATH:/usr/local/go/bin"
SUDO=; [ "$(id -u)" = 0 ] || SUDO="sudo -E env PATH=$PATH"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
go vet ./...
$SUDO go test -count=1 -timeout 20m ./...
