#!/usr/bin/env bash
# Merkle claim tree, Go vs Node, side by side: N claims (bytes32 public
# key, uint256 amount) built into an OpenZeppelin StandardMerkleTree and
# every proof produced, by agora's merkle package and by
# @openzeppelin/merkle-tree 1.0.8 on the same input. Each side times only
# building the tree and producing the proofs, not reading the input.
# Usage: bash bench/merkle.sh [N]   (default 1000000)
# Env: AGORA_NPM_CACHE (npm package cache, as the cross-check tests use),
#      NODE_HEAP_MB (node --max-old-space-size, default 8192).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
n="${1:-1000000}"
if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: bash bench/merkle.sh [N]   (N >= 1 claims, default 1000000)" >&2
  exit 2
fi
oz_version=1.0.8
heap_mb="${NODE_HEAP_MB:-8192}"

work=$(mktemp -d)
tmp_install=
trap 'rm -rf "$work" ${tmp_install:+"$tmp_install"}' EXIT

# @openzeppelin/merkle-tree, installed once into the directory
# internal/testingutil.NPMPackages uses, so the interop test and this
# benchmark share it.
cache_root="${AGORA_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agora/npm}"
oz_dir="$cache_root/oz-merkle-$oz_version"
oz_installed() {
  node -e 'const fs = require("fs");
    try { process.exit(JSON.parse(fs.readFileSync(process.argv[1], "utf8")).version === process.argv[2] ? 0 : 1) }
    catch { process.exit(1) }' "$1/node_modules/@openzeppelin/merkle-tree/package.json" "$oz_version"
}
if ! oz_installed "$oz_dir"; then
  echo "installing @openzeppelin/merkle-tree@$oz_version into $oz_dir" >&2
  mkdir -p "$cache_root"
  tmp_install=$(mktemp -d "$cache_root/.oz-merkle-$oz_version-install-XXXXXX")
  echo '{"private":true}' >"$tmp_install/package.json"
  (cd "$tmp_install" && npm install --no-audit --no-fund --loglevel=error "@openzeppelin/merkle-tree@$oz_version") >&2
  oz_installed "$tmp_install" || { echo "npm install did not leave @openzeppelin/merkle-tree@$oz_version" >&2; exit 1; }
  # A concurrent install may have won the rename; then use its copy.
  if ! mv -T "$tmp_install" "$oz_dir" 2>/dev/null && ! oz_installed "$oz_dir"; then
    echo "cannot install into $oz_dir (remove it and retry)" >&2
    exit 1
  fi
fi

go build -o "$work/merklebench" ./bench/merkle
echo "generating $n claims" >&2
"$work/merklebench" gen -n "$n" -o "$work/claims.json"
echo "go: building the tree and all proofs" >&2
go_line=$("$work/merklebench" run -in "$work/claims.json" -verify-all)
echo "node: building the tree and all proofs (minutes for a million claims)" >&2
oz_line=$(node --max-old-space-size="$heap_mb" bench/merkle/oz.mjs "$oz_dir" "$work/claims.json")

field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
secs() { awk -v s="$1" 'BEGIN { printf "%.3f", s }'; }
total() { awk -v a="$(field "$1" build)" -v b="$(field "$1" proofs)" 'BEGIN { printf "%.6f", a + b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "n/a" }'; }
go_total=$(total "$go_line")
oz_total=$(total "$oz_line")
go_root=$(field "$go_line" root)
oz_root=$(field "$oz_line" root)

echo
echo "$n claims (bytes32 public key, uint256 amount); $(nproc) CPUs; $(go env GOVERSION), node $(node --version)"
row='%-40s %9s %13s %9s %12s  %s\n'
# shellcheck disable=SC2059
printf "$row" implementation "build s" "all proofs s" "total s" "peak RSS MB" root
# shellcheck disable=SC2059
printf "$row" "go (agora merkle)" "$(secs "$(field "$go_line" build)")" "$(secs "$(field "$go_line" proofs)")" \
  "$(secs "$go_total")" "$(field "$go_line" rss_mb)" "$go_root"
# shellcheck disable=SC2059
printf "$row" "node (@openzeppelin/merkle-tree $oz_version)" "$(secs "$(field "$oz_line" build)")" "$(secs "$(field "$oz_line" proofs)")" \
  "$(secs "$oz_total")" "$(field "$oz_line" rss_mb)" "$oz_root"
echo "speed-up: $(ratio "$oz_total" "$go_total")"
roots_match=no
[ "$go_root" = "$oz_root" ] && roots_match=yes
proofs_match=no
[ "$(field "$go_line" digest)" = "$(field "$oz_line" digest)" ] && proofs_match=yes
echo "roots match: $roots_match"
echo "proofs match ($(field "$go_line" sampled) sampled, evenly spaced): $proofs_match"
echo
echo "notes: peak RSS includes reading the input. @openzeppelin's getProof re-hashes the value and"
echo "verifies the proof before returning it; its bare tree walk (core.getProof) takes $(secs "$(field "$oz_line" bare_proofs)") s for"
echo "all proofs. Go verifying every proof from its value as well takes $(secs "$(field "$go_line" verify_all)") s"
echo "(speed-up counting that: $(ratio "$oz_total" "$(awk -v g="$go_total" -v v="$(field "$go_line" verify_all)" 'BEGIN { print g + v }')"))."
if [ "$roots_match" != yes ] || [ "$proofs_match" != yes ]; then
  exit 1
fi
