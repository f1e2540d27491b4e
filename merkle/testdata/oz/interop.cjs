// Cross-check for merkle.TestNPMInterop: reads cases from stdin, builds
// each tree with @openzeppelin/merkle-tree and prints what it computes.
'use strict';
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');

const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = input.cases.map(c => {
  const goDump = JSON.parse(c.dump);
  // The values exactly as Go dumped them (bools as JSON booleans).
  const values = goDump.values.map(v => v.value);
  const tree = StandardMerkleTree.of(values, c.types, { sortLeaves: c.sorted });
  let loadedRoot = '';
  let loadError = '';
  try {
    loadedRoot = StandardMerkleTree.load(goDump).root;
  } catch (e) {
    loadError = String(e);
  }
  return {
    root: tree.root,
    dump: JSON.stringify(tree.dump()),
    leafHashes: values.map(v => tree.leafHash(v)),
    proofs: c.proofs.map(i => tree.getProof(i)),
    multiProofs: c.multiProofs.map(ix => tree.getMultiProof(ix)),
    goProofsVerify: c.goProofs.map((p, i) => StandardMerkleTree.verify(c.goRoot, c.types, values[c.proofs[i]], p)),
    loadedRoot,
    loadError,
  };
});
process.stdout.write(JSON.stringify(out));
