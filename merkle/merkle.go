// Package merkle builds and verifies Merkle trees compatible with
// OpenZeppelin's StandardMerkleTree (npm @openzeppelin/merkle-tree 1.0.8)
// and with the Solidity MerkleProof library.
//
// A leaf is keccak256(keccak256(abi.encode(types, value))); an inner node
// is keccak256 of its two children concatenated smaller first. Leaves are
// sorted by hash unless Options.SortLeaves is false. The tree is a flat
// array: the root at 0, the children of i at 2i+1 and 2i+2, and sorted
// leaf i at len-1-i. Values are given as strings the way the npm dump
// stores them: numbers in decimal or 0x-hex, addresses and bytes in 0x-hex,
// bools as "true" or "false".
//
// The package is pure: no I/O.
package merkle

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/bits"
	"slices"
	"sync"

	"github.com/agoranet/agora/internal/clip"
	"golang.org/x/crypto/sha3"
)

// Errors callers may branch on.
var (
	// ErrNoValues is returned when building a tree of no values.
	ErrNoValues = errors.New("merkle: expected a non-zero number of values")
	// ErrInvalidMultiProof is returned for a multiproof whose shape does
	// not fit together.
	ErrInvalidMultiProof = errors.New("merkle: invalid multiproof")
)

// Hash is a 32-byte keccak256 digest.
type Hash [32]byte

// String returns the hash as lowercase 0x-hex.
func (h Hash) String() string { return "0x" + hex.EncodeToString(h[:]) }

// MarshalText encodes the hash as lowercase 0x-hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes 0x-hex of exactly 32 bytes.
func (h *Hash) UnmarshalText(b []byte) error {
	p, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// ParseHash decodes 0x-hex of exactly 32 bytes.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := decodeHex(s)
	if err != nil {
		return h, fmt.Errorf("merkle: hash %q: %w", clip.String(s, 80), err)
	}
	if len(b) != 32 {
		return h, fmt.Errorf("merkle: hash %q: must be 32 bytes, got %d", clip.String(s, 80), len(b))
	}
	copy(h[:], b)
	return h, nil
}

// hasher computes keccak256 digests with one reused sponge and scratch
// space, so hashing allocates nothing: no new state per digest and no
// copy of it as hash.Hash.Sum makes. A hasher is not safe for concurrent
// use; tree building keeps one, the package-level functions borrow one
// from hashers.
type hasher struct {
	d   hash.Hash
	r   io.Reader // d's squeeze (the sponge's Read), when it has one
	buf [64]byte  // input of node and the outer leaf hash
	out Hash
	enc []byte // ABI encoding of the leaf being hashed
}

var hashers = sync.Pool{New: func() any { return newHasher() }}

func newHasher() *hasher {
	d := sha3.NewLegacyKeccak256()
	r, _ := d.(io.Reader)
	return &hasher{d: d, r: r}
}

// sum returns keccak256(b). b escapes (it goes through an interface), so
// callers pass the hasher's own buffers, never a local array.
func (k *hasher) sum(b []byte) Hash {
	k.d.Reset()
	k.d.Write(b)
	if k.r != nil {
		k.r.Read(k.out[:])
	} else {
		k.d.Sum(k.out[:0])
	}
	return k.out
}

// node is NodeHash.
func (k *hasher) node(a, b *Hash) Hash {
	if bytes.Compare(a[:], b[:]) > 0 {
		a, b = b, a
	}
	copy(k.buf[:32], a[:])
	copy(k.buf[32:], b[:])
	return k.sum(k.buf[:])
}

// leaf is leafHash.
func (k *hasher) leaf(ts []abiType, value []string) (Hash, error) {
	var err error
	k.enc, err = appendEncode(k.enc[:0], ts, value)
	if err != nil {
		var ve *ValueError
		if errors.As(err, &ve) {
			return Hash{}, err
		}
		return Hash{}, fmt.Errorf("merkle: value %w", err)
	}
	inner := k.sum(k.enc)
	copy(k.buf[:32], inner[:])
	return k.sum(k.buf[:32]), nil
}

// NodeHash hashes two sibling nodes: keccak256 of the pair, smaller first
// (OpenZeppelin Hashes.commutativeKeccak256).
func NodeHash(a, b Hash) Hash {
	k := hashers.Get().(*hasher)
	h := k.node(&a, &b)
	hashers.Put(k)
	return h
}

// LeafHash returns keccak256(keccak256(abi.encode(types, value))).
// Errors are *ValueError for a bad value (Index -1) or name the bad type.
func LeafHash(types []string, value []string) (Hash, error) {
	ts, err := parseTypes(types)
	if err != nil {
		return Hash{}, err
	}
	return leafHash(ts, value)
}

func leafHash(ts []abiType, value []string) (Hash, error) {
	k := hashers.Get().(*hasher)
	h, err := k.leaf(ts, value)
	if cap(k.enc) <= 1<<12 { // don't keep a huge dynamic value's buffer
		hashers.Put(k)
	}
	return h, err
}

// Options configures tree construction.
type Options struct {
	// SortLeaves sorts leaves by hash, as the npm default does. Sorted
	// trees make multiproofs usable on chain.
	SortLeaves bool
}

// DefaultOptions are the npm library's defaults.
func DefaultOptions() Options { return Options{SortLeaves: true} }

// IndexedValue is a value with its position in the tree array.
type IndexedValue struct {
	Value     []string
	TreeIndex int
}

// Tree is an immutable StandardMerkleTree.
type Tree struct {
	types    []string
	abi      []abiType
	tree     []Hash
	values   []IndexedValue
	lookup   map[Hash]int // leaf hash -> value index (last wins, as npm)
	boolMask []bool       // fields encoded as JSON booleans in dumps
}

// New builds a tree with DefaultOptions.
func New(types []string, values [][]string) (*Tree, error) {
	return NewWithOptions(types, values, DefaultOptions())
}

// NewWithOptions builds a tree of values, each ABI-encoded with types.
// It returns ErrNoValues for no values and a *ValueError naming the value
// index, field and type for a value that cannot be encoded.
func NewWithOptions(types []string, values [][]string, opts Options) (*Tree, error) {
	ts, err := parseTypes(types)
	if err != nil {
		return nil, err
	}
	if len(values) == 0 {
		return nil, ErrNoValues
	}
	type hashed struct {
		hash  Hash
		index int
	}
	k := newHasher()
	hs := make([]hashed, len(values))
	for i, v := range values {
		h, err := k.leaf(ts, v)
		if err != nil {
			return nil, withIndex(err, i)
		}
		hs[i] = hashed{h, i}
	}
	if opts.SortLeaves {
		// JavaScript's sort is stable, so equal leaves keep input order:
		// ties go by input index, which makes an unstable sort stable.
		slices.SortFunc(hs, func(a, b hashed) int {
			if c := bytes.Compare(a.hash[:], b.hash[:]); c != 0 {
				return c
			}
			return a.index - b.index
		})
	}
	n := len(hs)
	tree := make([]Hash, 2*n-1)
	t := &Tree{types: slices.Clone(types), abi: ts, tree: tree, values: make([]IndexedValue, n)}
	// The values are copied into one backing array, each with its
	// capacity capped so that appending to one cannot touch the next.
	flat := make([]string, 0, n*len(ts))
	for i, v := range values {
		o := len(flat)
		flat = append(flat, v...)
		t.values[i].Value = flat[o:len(flat):len(flat)]
	}
	for i, h := range hs {
		tree[len(tree)-1-i] = h.hash
		t.values[h.index].TreeIndex = len(tree) - 1 - i
	}
	for i := len(tree) - 1 - n; i >= 0; i-- {
		tree[i] = k.node(&tree[2*i+1], &tree[2*i+2])
	}
	t.index()
	return t, nil
}

// withIndex sets the value index on a *ValueError, or names it otherwise.
func withIndex(err error, i int) error {
	var ve *ValueError
	if errors.As(err, &ve) {
		c := *ve
		c.Index = i
		return &c
	}
	return fmt.Errorf("merkle: value %d: %w", i, errors.Unwrap(err))
}

func (t *Tree) index() {
	t.lookup = make(map[Hash]int, len(t.values))
	for i, v := range t.values {
		t.lookup[t.tree[v.TreeIndex]] = i
	}
	t.boolMask = make([]bool, len(t.abi))
	for i, a := range t.abi {
		t.boolMask[i] = a.kind == kindBool
	}
}

// Root returns the root hash.
func (t *Tree) Root() Hash { return t.tree[0] }

// Len returns the number of values.
func (t *Tree) Len() int { return len(t.values) }

// Types returns the leaf encoding.
func (t *Tree) Types() []string { return slices.Clone(t.types) }

// Value returns value i (in input order) and its index in the tree array.
func (t *Tree) Value(i int) (IndexedValue, error) {
	if i < 0 || i >= len(t.values) {
		return IndexedValue{}, fmt.Errorf("merkle: value index %d out of bounds [0,%d)", i, len(t.values))
	}
	v := t.values[i]
	return IndexedValue{Value: slices.Clone(v.Value), TreeIndex: v.TreeIndex}, nil
}

// Nodes returns a copy of the flat tree array.
func (t *Tree) Nodes() []Hash { return slices.Clone(t.tree) }

// LeafHash hashes value with the tree's leaf encoding. The value need
// not be in the tree.
func (t *Tree) LeafHash(value []string) (Hash, error) { return leafHash(t.abi, value) }

// IndexOf returns the index of a value in the tree, or false.
func (t *Tree) IndexOf(value []string) (int, bool) {
	h, err := t.LeafHash(value)
	if err != nil {
		return 0, false
	}
	i, ok := t.lookup[h]
	return i, ok
}

// Proof returns the proof of value i (input order): the sibling hashes
// from the leaf up to the root. A single-value tree has an empty proof.
func (t *Tree) Proof(i int) ([]Hash, error) {
	if i < 0 || i >= len(t.values) {
		return nil, fmt.Errorf("merkle: value index %d out of bounds [0,%d)", i, len(t.values))
	}
	ti := t.values[i].TreeIndex
	proof := make([]Hash, 0, depth(ti))
	for j := ti; j > 0; j = (j - 1) / 2 {
		proof = append(proof, t.tree[sibling(j)])
	}
	return proof, nil
}

// Proofs returns the proof of every value, in input order: Proofs()[i]
// equals Proof(i). The proofs share one backing array, so producing all
// of them takes a few allocations rather than several per value; each has
// its capacity capped, so appending to one cannot touch another.
func (t *Tree) Proofs() [][]Hash {
	n := len(t.values)
	// Sorted leaf l (tree index len-1-l) belongs to value owner[l].
	owner := make([]int, n)
	total := 0
	for i, v := range t.values {
		owner[len(t.tree)-1-v.TreeIndex] = i
		total += depth(v.TreeIndex)
	}
	buf := make([]Hash, total)
	proofs := make([][]Hash, n)
	// Walk the leaves in tree order, not input order: neighbouring
	// leaves share most of their paths, so the tree is read in cache.
	off := 0
	for l := range n {
		ti := len(t.tree) - 1 - l
		p := buf[off : off+depth(ti) : off+depth(ti)]
		off += len(p)
		for k, j := 0, ti; j > 0; k, j = k+1, (j-1)/2 {
			p[k] = t.tree[sibling(j)]
		}
		proofs[owner[l]] = p
	}
	return proofs
}

// depth is the number of edges from the root to tree index j.
func depth(j int) int { return bits.Len(uint(j+1)) - 1 }

func sibling(j int) int {
	if j%2 == 1 {
		return j + 1
	}
	return j - 1
}

// MultiProof proves several values at once, in the layout of the npm
// library and Solidity MerkleProof.multiProofVerify: Leaves are in tree
// order (descending tree index), which is not the order asked for.
type MultiProof struct {
	Leaves     [][]string `json:"leaves"`
	Proof      []Hash     `json:"proof"`
	ProofFlags []bool     `json:"proofFlags"`
}

// MultiProof returns a multiproof of the values at indices (input order).
// Duplicate indices are an error. No indices gives a proof holding only
// the root.
func (t *Tree) MultiProof(indices []int) (MultiProof, error) {
	tis := make([]int, len(indices))
	for k, i := range indices {
		if i < 0 || i >= len(t.values) {
			return MultiProof{}, fmt.Errorf("merkle: value index %d out of bounds [0,%d)", i, len(t.values))
		}
		tis[k] = t.values[i].TreeIndex
	}
	slices.SortFunc(tis, func(a, b int) int { return b - a })
	for k := 1; k < len(tis); k++ {
		if tis[k] == tis[k-1] {
			return MultiProof{}, errors.New("merkle: cannot prove a duplicated index")
		}
	}
	mp := MultiProof{Leaves: [][]string{}, Proof: []Hash{}, ProofFlags: []bool{}}
	queue := slices.Clone(tis)
	for len(queue) > 0 && queue[0] > 0 {
		j := queue[0]
		queue = queue[1:]
		s, p := sibling(j), (j-1)/2
		if len(queue) > 0 && queue[0] == s {
			mp.ProofFlags = append(mp.ProofFlags, true)
			queue = queue[1:]
		} else {
			mp.ProofFlags = append(mp.ProofFlags, false)
			mp.Proof = append(mp.Proof, t.tree[s])
		}
		queue = append(queue, p)
	}
	if len(tis) == 0 {
		mp.Proof = append(mp.Proof, t.tree[0])
	}
	for _, ti := range tis {
		mp.Leaves = append(mp.Leaves, slices.Clone(t.values[t.lookup[t.tree[ti]]].Value))
	}
	return mp, nil
}

// ProcessProof returns the root implied by a leaf and its proof.
func ProcessProof(leaf Hash, proof []Hash) Hash {
	k := hashers.Get().(*hasher)
	for i := range proof {
		leaf = k.node(&leaf, &proof[i])
	}
	hashers.Put(k)
	return leaf
}

// Verify reports whether proof proves leaf (a leaf hash) under root.
func Verify(root, leaf Hash, proof []Hash) bool { return ProcessProof(leaf, proof) == root }

// VerifyValue hashes value with types and verifies its proof under root.
func VerifyValue(root Hash, types []string, value []string, proof []Hash) (bool, error) {
	leaf, err := LeafHash(types, value)
	if err != nil {
		return false, err
	}
	return Verify(root, leaf, proof), nil
}

// ProcessMultiProof returns the root implied by a multiproof of leaf
// hashes, or ErrInvalidMultiProof when its parts do not fit together.
func ProcessMultiProof(leaves, proof []Hash, flags []bool) (Hash, error) {
	needProof := 0
	for _, f := range flags {
		if !f {
			needProof++
		}
	}
	if len(proof) < needProof || len(leaves)+len(proof) != len(flags)+1 {
		return Hash{}, ErrInvalidMultiProof
	}
	// queue holds the leaves followed by the computed hashes.
	queue := make([]Hash, 0, len(leaves)+len(flags))
	queue = append(queue, leaves...)
	qi, pi := 0, 0
	for _, f := range flags {
		if qi >= len(queue) {
			return Hash{}, ErrInvalidMultiProof
		}
		a := queue[qi]
		qi++
		var b Hash
		if f {
			if qi >= len(queue) {
				return Hash{}, ErrInvalidMultiProof
			}
			b = queue[qi]
			qi++
		} else {
			b = proof[pi]
			pi++
		}
		queue = append(queue, NodeHash(a, b))
	}
	rest := len(queue) - qi
	if rest+len(proof)-pi != 1 {
		return Hash{}, ErrInvalidMultiProof
	}
	if rest == 1 {
		return queue[len(queue)-1], nil
	}
	return proof[pi], nil
}

// VerifyMultiProof reports whether a multiproof of leaf hashes is valid
// under root. A malformed multiproof is not valid.
func VerifyMultiProof(root Hash, leaves, proof []Hash, flags []bool) bool {
	r, err := ProcessMultiProof(leaves, proof, flags)
	return err == nil && r == root
}

// VerifyMultiProofValues hashes the multiproof's leaves with types and
// verifies it under root.
func VerifyMultiProofValues(root Hash, types []string, mp MultiProof) (bool, error) {
	ts, err := parseTypes(types)
	if err != nil {
		return false, err
	}
	leaves := make([]Hash, len(mp.Leaves))
	for i, v := range mp.Leaves {
		if leaves[i], err = leafHash(ts, v); err != nil {
			return false, withIndex(err, i)
		}
	}
	return VerifyMultiProof(root, leaves, mp.Proof, mp.ProofFlags), nil
}
