// The Node side of bench/merkle.sh: times @openzeppelin/merkle-tree
// building a StandardMerkleTree of the claims gen wrote and producing
// every proof, the work `go run ./bench/merkle run` times in Go.
//
//   node --max-old-space-size=8192 bench/merkle/oz.mjs OZ_DIR CLAIMS_JSON
//
// OZ_DIR holds node_modules/@openzeppelin/merkle-tree (1.0.8). Prints one
// line of key=value fields, as the Go side does.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const [ozDir, input] = process.argv.slice(2);
if (!ozDir || !input) {
  console.error('usage: node oz.mjs OZ_DIR CLAIMS_JSON');
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(ozDir), 'package.json'));
const { version } = require('@openzeppelin/merkle-tree/package.json');
if (version !== '1.0.8') {
  throw new Error(`@openzeppelin/merkle-tree ${version} in ${ozDir}, want 1.0.8`);
}
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');
// The library's own array walk, without getProof's checks (see below).
const core = require('@openzeppelin/merkle-tree/dist/core');

const { types, values } = JSON.parse(readFileSync(input, 'utf8'));
const n = values.length;

const t0 = performance.now();
const tree = StandardMerkleTree.of(values, types);
const t1 = performance.now();
// getProof(i) is the library's way to get a proof: it re-hashes value i,
// checks it against the tree, walks the tree and verifies the proof
// against the root before returning it.
const proofs = new Array(n);
for (let i = 0; i < n; i++) {
  proofs[i] = tree.getProof(i);
}
const t2 = performance.now();

// The same sampled proofs Go digests (bench/merkle/main.go: sample,
// proofDigest), so the two sides' proofs can be compared, not just roots.
const step = Math.max(1, Math.floor(n / 1000));
const ix = [];
for (let i = 0; i < n; i += step) ix.push(i);
if (ix[ix.length - 1] !== n - 1) ix.push(n - 1);
const digest = createHash('sha256');
for (const i of ix) digest.update(`${i}:${proofs[i].join(',')}\n`);

// Informational: the bare array walk (core.getProof), without the leaf
// re-hash and verification getProof adds.
const t3 = performance.now();
const bare = new Array(n);
for (let i = 0; i < n; i++) {
  bare[i] = core.getProof(tree.tree, tree.values[i].treeIndex);
}
const t4 = performance.now();
for (const i of ix) {
  if (bare[i].join() !== proofs[i].join()) throw new Error(`core.getProof differs for value ${i}`);
}

const s = ms => (ms / 1000).toFixed(6);
console.log(
  `impl=oz n=${n} build=${s(t1 - t0)} proofs=${s(t2 - t1)} rss_mb=${Math.round(process.resourceUsage().maxRSS / 1024)} ` +
    `root=${tree.root} digest=${digest.digest('hex')} bare_proofs=${s(t4 - t3)}`,
);
