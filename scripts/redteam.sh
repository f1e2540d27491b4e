#!/usr/bin/env bash
# Runs the red-team suite: one TestRedTeam* test per attack class of the
# verdict-integrity threat model (README, "Threat model"). Each test performs
# an attack the way an attacker would and passes only when the attack fails.
# The same tests run in scripts/test.sh; this script runs them alone, with
# their names, for a quick look.
#   scripts/redteam.sh            every class
#   scripts/redteam.sh Runner     only tests whose name matches
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
export AGORA_TEST_POSTGRES_DSN="${AGORA_TEST_POSTGRES_DSN:-$(bash scripts/postgres.sh)}"
pattern="TestRedTeam${1:-}"
pkgs=$(grep -rl --include='*_test.go' "func ${pattern}" . | xargs -n1 dirname | sort -u)
SUDO=; [ "$(id -u)" = 0 ] || SUDO="sudo -E env PATH=$PATH"
$SUDO go test -count=1 -run "$pattern" -v $pkgs 2>&1 | grep -E '^(=== RUN|--- (PASS|FAIL|SKIP)|PASS|FAIL|ok|\s+--- )' | grep -v '=== RUN'
