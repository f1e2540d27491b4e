#!/usr/bin/env bash
# Runs all of Agora's tests: formatting, vet, then every package's tests,
# sandbox tests included (they need root: namespaces, cgroups, overlayfs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export PATH="$PATH:/usr/local/go/bin"
SUDO=; [ "$(id -u)" = 0 ] || SUDO="sudo -E env PATH=$PATH"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
go vet ./...
$SUDO go test -count=1 -timeout 20m ./...
