package merkle_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/merkle"
)

// ozVersion pins the npm package the cross-check runs against
// (bittensor_interop.md §5).
const (
	ozPackage = "@openzeppelin/merkle-tree"
	ozVersion = "1.0.8"
)

// ozDir returns the pinned @openzeppelin/merkle-tree, installed once.
func ozDir(tb testing.TB) string {
	return testingutil.NPMPackages(tb, "oz-merkle-"+ozVersion, `{"private":true}`, ozVersion, ozPackage)
}

type ozCase struct {
	Types       []string        `json:"types"`
	Sorted      bool            `json:"sorted"`
	Dump        string          `json:"dump"`
	Proofs      []int           `json:"proofs"`
	MultiProofs [][]int         `json:"multiProofs"`
	GoRoot      merkle.Hash     `json:"goRoot"`
	GoProofs    [][]merkle.Hash `json:"goProofs"`

	tree *merkle.Tree
}

type ozResult struct {
	Root        string     `json:"root"`
	Dump        string     `json:"dump"`
	LeafHashes  []string   `json:"leafHashes"`
	Proofs      [][]string `json:"proofs"`
	MultiProofs []struct {
		Leaves     [][]any  `json:"leaves"`
		Proof      []string `json:"proof"`
		ProofFlags []bool   `json:"proofFlags"`
	} `json:"multiProofs"`
	GoProofsVerify []bool `json:"goProofsVerify"`
	LoadedRoot     string `json:"loadedRoot"`
	LoadError      string `json:"loadError"`
}

// TestNPMInterop builds random trees in Go and with the npm library and
// compares roots, dumps (byte for byte), leaf hashes, proofs and
// multiproofs; the library also verifies Go's proofs and loads Go's dumps.
// It needs node and npm and, on the first run, the npm registry; it is
// skipped under -short.
func TestNPMInterop(t *testing.T) {
	if testing.Short() {
		t.Skipf("%s cross-check skipped in -short mode", ozPackage)
	}
	dir := ozDir(t)
	scriptPath := testingutil.NPMScript(t, dir, filepath.Join("testdata", "oz", "interop.cjs"))

	seed1, seed2 := rand.Uint64(), rand.Uint64()
	t.Logf("seed %d,%d", seed1, seed2)
	rng := rand.New(rand.NewPCG(seed1, seed2))
	var cases []*ozCase
	add := func(types []string, values [][]string, sorted bool) {
		tree, err := merkle.NewWithOptions(types, values, merkle.Options{SortLeaves: sorted})
		if err != nil {
			t.Fatal(err)
		}
		c := &ozCase{Types: types, Sorted: sorted, Dump: string(tree.Dump()), GoRoot: tree.Root(), tree: tree}
		n := len(values)
		for k := 0; k < 4; k++ {
			i := rng.IntN(n)
			c.Proofs = append(c.Proofs, i)
			p, err := tree.Proof(i)
			if err != nil {
				t.Fatal(err)
			}
			c.GoProofs = append(c.GoProofs, p)
		}
		c.MultiProofs = [][]int{{}}
		for k := 0; k < 4; k++ {
			c.MultiProofs = append(c.MultiProofs, rng.Perm(n)[:1+rng.IntN(n)])
		}
		cases = append(cases, c)
	}
	for k := 0; k < 30; k++ {
		types := [][]string{{"address", "uint256"}, {"bytes32", "uint256"}}[k%2]
		add(types, randomValues(rng, types, 1+rng.IntN(50)), k%5 != 4)
	}
	// Every supported type, including dynamic ones and JSON booleans.
	encTypes := []string{"int256", "bool", "bytes", "uint", "bytes4", "string", "int", "uint64", "address", "uint8", "int16"}
	var encValues [][]string
	for k := 0; k < 12; k++ {
		encValues = append(encValues, []string{
			fmt.Sprint(rng.Int64() - rng.Int64()), strconv.FormatBool(k%2 == 0), randHex(rng, rng.IntN(70)),
			fmt.Sprintf("0x%x", rng.Uint64()), randHex(rng, 4), strings.Repeat("é\"\\\n\x01", rng.IntN(12)),
			"-" + fmt.Sprint(rng.Uint64()), fmt.Sprint(rng.Uint64()), randHex(rng, 20),
			fmt.Sprint(rng.IntN(256)), fmt.Sprint(rng.IntN(65536) - 32768),
		})
	}
	add(encTypes, encValues, true)
	add([]string{"string"}, [][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}, {"f"}}, true)

	req, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := testingutil.RunNode(t, scriptPath, req, 2*time.Minute)
	var results []ozResult
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("node output: %v\n%s", err, out)
	}
	if len(results) != len(cases) {
		t.Fatalf("node returned %d results for %d cases", len(results), len(cases))
	}
	for ci, c := range cases {
		r := results[ci]
		name := fmt.Sprintf("case %d (%v, %d values, sorted=%v)", ci, c.Types, c.tree.Len(), c.Sorted)
		if r.Root != c.tree.Root().String() {
			t.Errorf("%s: root go %s, npm %s", name, c.tree.Root(), r.Root)
		}
		if r.Dump != c.Dump {
			t.Errorf("%s: dumps differ\ngo:  %s\nnpm: %s", name, c.Dump, r.Dump)
		}
		if r.LoadError != "" || r.LoadedRoot != c.tree.Root().String() {
			t.Errorf("%s: npm load of Go dump: root %q, error %q", name, r.LoadedRoot, r.LoadError)
		}
		if lt, err := merkle.Load([]byte(r.Dump)); err != nil || lt.Root() != c.tree.Root() {
			t.Errorf("%s: Load of npm dump: %v", name, err)
		}
		for i := range r.LeafHashes {
			v, _ := c.tree.Value(i)
			h, _ := c.tree.LeafHash(v.Value)
			if r.LeafHashes[i] != h.String() {
				t.Errorf("%s: leaf hash %d go %s, npm %s", name, i, h, r.LeafHashes[i])
			}
		}
		for k, i := range c.Proofs {
			if got := hashStrings(c.GoProofs[k]); !reflect.DeepEqual(got, r.Proofs[k]) {
				t.Errorf("%s: proof of %d\ngo:  %v\nnpm: %v", name, i, got, r.Proofs[k])
			}
			if !r.GoProofsVerify[k] {
				t.Errorf("%s: npm rejects Go's proof of %d", name, i)
			}
		}
		for k, ix := range c.MultiProofs {
			mp, err := c.tree.MultiProof(ix)
			if err != nil {
				t.Fatal(err)
			}
			jm := r.MultiProofs[k]
			var jsLeaves [][]string
			for _, l := range jm.Leaves {
				var fs []string
				for _, f := range l {
					fs = append(fs, fmt.Sprint(f)) // strings, or JSON booleans
				}
				jsLeaves = append(jsLeaves, fs)
			}
			if len(mp.Leaves) == 0 {
				jsLeaves = [][]string{}
			}
			if !reflect.DeepEqual(mp.Leaves, jsLeaves) || !reflect.DeepEqual(hashStrings(mp.Proof), jm.Proof) || !reflect.DeepEqual(mp.ProofFlags, jm.ProofFlags) {
				t.Errorf("%s: multiproof of %v\ngo:  %v %v %v\nnpm: %v %v %v", name, ix, mp.Leaves, hashStrings(mp.Proof), mp.ProofFlags, jsLeaves, jm.Proof, jm.ProofFlags)
			}
		}
	}
}

func hashStrings(hs []merkle.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}
