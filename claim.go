package agora

// ClaimProof is a claimant's proof in an epoch's claim tree, for an
// OpenZeppelin MerkleProof verifier.
type ClaimProof struct {
	Epoch  int      `json:"epoch"`
	Hotkey string   `json:"hotkey"`
	Types  []string `json:"leaf_encoding"`
	Value  []string `json:"value"`
	Proof  []string `json:"proof"`
	Root   string   `json:"root"`
}

// ClaimMultiProof proves several claims at once, in the layout of
// Solidity MerkleProof.multiProofVerify (leaves in tree order).
type ClaimMultiProof struct {
	Epoch      int        `json:"epoch"`
	Hotkeys    []string   `json:"hotkeys"`
	Types      []string   `json:"leaf_encoding"`
	Leaves     [][]string `json:"leaves"`
	Proof      []string   `json:"proof"`
	ProofFlags []bool     `json:"proofFlags"`
	Root       string     `json:"root"`
}
