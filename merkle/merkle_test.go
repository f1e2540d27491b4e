package merkle_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/agoranet/agora/merkle"
)

func mustNew(tb testing.TB, types []string, values [][]string) *merkle.Tree {
	tb.Helper()
	t, err := merkle.New(types, values)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// TestStringVector is the npm library's test/dumps/standard-v1.sorted.1_0_6.json.
func TestStringVector(t *testing.T) {
	var values [][]string
	for _, s := range []string{"a", "b", "c", "d", "e", "f"} {
		values = append(values, []string{s})
	}
	tree := mustNew(t, []string{"string"}, values)
	if got, want := tree.Root().String(), "0x6deb52b5da8fd108f79fab00341f38d2587896634c646ee52e49f845680a70c8"; got != want {
		t.Fatalf("root %s, want %s", got, want)
	}
	for i, want := range []int{8, 10, 7, 5, 9, 6} {
		v, err := tree.Value(i)
		if err != nil {
			t.Fatal(err)
		}
		if v.TreeIndex != want {
			t.Errorf("value %q treeIndex %d, want %d", v.Value[0], v.TreeIndex, want)
		}
	}
	loaded, err := merkle.Load(tree.Dump())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded.Dump(), tree.Dump()) {
		t.Fatal("dump does not survive Load")
	}
}

func TestAddressUintVector(t *testing.T) {
	types := []string{"address", "uint256"}
	values := [][]string{
		{"0x" + strings.Repeat("11", 20), "5000000000000000000"},
		{"0x" + strings.Repeat("22", 20), "2500000000000000000"},
		{"0x" + strings.Repeat("33", 20), "1"},
	}
	tree := mustNew(t, types, values)
	if got, want := tree.Root().String(), "0xd673f832e8ae578ea16450035956e30f27212b91d6cd26edbef07c90546302ff"; got != want {
		t.Fatalf("root %s, want %s", got, want)
	}
	const leaf1 = "0xb92c48e9d7abe27fd8dfd6b5dfdbfb1c9a463f80c712b66f3a5180a090cccafc"
	h, err := tree.LeafHash(values[1])
	if err != nil {
		t.Fatal(err)
	}
	if h.String() != leaf1 {
		t.Fatalf("leaf hash %s, want %s", h, leaf1)
	}
	// The same number in hex hashes the same.
	if h2, err := merkle.LeafHash(types, []string{values[1][0], "0x22b1c8c1227a0000"}); err != nil || h2 != h {
		t.Fatalf("hex uint: %s, %v", h2, err)
	}
	for i := range values {
		proof, err := tree.Proof(i)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := merkle.VerifyValue(tree.Root(), types, values[i], proof); err != nil || !ok {
			t.Fatalf("value %d does not verify: %v", i, err)
		}
	}
}

func TestSingleAndEmpty(t *testing.T) {
	types := []string{"uint256"}
	if _, err := merkle.New(types, nil); !errors.Is(err, merkle.ErrNoValues) {
		t.Fatalf("empty: %v", err)
	}
	tree := mustNew(t, types, [][]string{{"42"}})
	h, _ := tree.LeafHash([]string{"42"})
	if tree.Root() != h {
		t.Fatal("single-leaf root is not the leaf hash")
	}
	proof, err := tree.Proof(0)
	if err != nil || len(proof) != 0 {
		t.Fatalf("single-leaf proof %v, %v", proof, err)
	}
	if !merkle.Verify(tree.Root(), h, proof) {
		t.Fatal("single-leaf proof does not verify")
	}
	mp, err := tree.MultiProof(nil)
	if err != nil || len(mp.Proof) != 1 || mp.Proof[0] != tree.Root() || len(mp.ProofFlags) != 0 {
		t.Fatalf("empty multiproof %+v, %v", mp, err)
	}
	if ok, _ := merkle.VerifyMultiProofValues(tree.Root(), types, mp); !ok {
		t.Fatal("empty multiproof does not verify")
	}
}

func TestValueErrors(t *testing.T) {
	addr := "0x" + strings.Repeat("ab", 20)
	tests := []struct {
		types []string
		value []string
		want  string
	}{
		{[]string{"uint8"}, []string{"256"}, "value 1, field 0 (uint8) \"256\": overflows uint8"},
		{[]string{"uint256"}, []string{"0x1" + strings.Repeat("0", 64)}, "overflows uint256"},
		{[]string{"uint256"}, []string{"-1"}, "not a decimal or 0x-hex number"},
		{[]string{"uint256"}, []string{""}, "empty number"},
		{[]string{"uint256"}, []string{"0x"}, "bad hex number"},
		{[]string{"int8"}, []string{"-129"}, "overflows int8"},
		{[]string{"int8"}, []string{"128"}, "overflows int8"},
		{[]string{"address"}, []string{addr[:40]}, "address must be 20 bytes, got 19"},
		{[]string{"address"}, []string{addr[2:]}, "hex must start with 0x"},
		{[]string{"address", "bytes32"}, []string{addr, "0x" + strings.Repeat("0", 63)}, "field 1 (bytes32)"},
		{[]string{"bytes32"}, []string{"0x" + strings.Repeat("0", 62)}, "bytes32 must be 32 bytes, got 31"},
		{[]string{"bytes"}, []string{"0xzz"}, "bad hex digit"},
		{[]string{"bool"}, []string{"1"}, `bool must be "true" or "false"`},
		{[]string{"string"}, []string{"\xff"}, "not valid UTF-8"},
		{[]string{"uint7"}, []string{"1"}, `leaf encoding type 0: unknown type "uint7"`},
		{[]string{"bytes33"}, []string{"0x00"}, `unknown type "bytes33"`},
		{[]string{"tuple"}, []string{"1"}, `unknown type "tuple"`},
		{[]string{"uint256", "uint256"}, []string{"1"}, "value 1: has 1 fields, the leaf encoding has 2"},
	}
	for _, tc := range tests {
		good := make([]string, len(tc.types))
		for i, ty := range tc.types {
			good[i] = map[string]string{"address": addr, "bytes32": "0x" + strings.Repeat("00", 32), "bool": "true"}[ty]
			if good[i] == "" {
				good[i] = "0x00"
				if strings.Contains(ty, "int") || ty == "string" {
					good[i] = "1"
				}
			}
		}
		_, err := merkle.New(tc.types, [][]string{good, tc.value})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %q: error %v, want it to contain %q", tc.types, tc.value, err, tc.want)
		}
		var ve *merkle.ValueError
		if errors.As(err, &ve) && ve.Index != 1 {
			t.Errorf("%v %q: ValueError.Index %d, want 1", tc.types, tc.value, ve.Index)
		}
	}
}

func TestEncodings(t *testing.T) {
	// Every supported type in one leaf; negative ints, short and long
	// dynamic values. Checked against the npm library by TestNPMInterop.
	types := []string{"int256", "bool", "bytes", "uint", "bytes4", "string", "int", "uint64"}
	values := [][]string{
		{"-1", "true", "0x", "0", "0xdeadbeef", "", "-57896044618658097711785492504343953926634992332820282019728792003956564819968", "18446744073709551615"},
		{"5", "false", "0x" + strings.Repeat("ab", 33), "0xff", "0x00000000", strings.Repeat("ü", 40), "57896044618658097711785492504343953926634992332820282019728792003956564819967", "0"},
	}
	tree := mustNew(t, types, values)
	loaded, err := merkle.Load(tree.Dump())
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Root() != tree.Root() {
		t.Fatal("root changed by Load")
	}
	if !bytes.Contains(tree.Dump(), []byte(`"value":["-1",true,"0x"`)) {
		t.Fatalf("bool not dumped as a JSON boolean: %s", tree.Dump())
	}
}

// TestDecimalUints checks decimal uintN values, which take a fast path,
// against the same numbers in hex, which do not: at and past each
// width's limit, with leading zeros, and at random.
func TestDecimalUints(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for size := 8; size <= 256; size += 8 {
		ty := []string{fmt.Sprintf("uint%d", size)}
		limit := new(big.Int).Lsh(big.NewInt(1), uint(size))
		max := new(big.Int).Sub(limit, big.NewInt(1))
		nums := []*big.Int{big.NewInt(0), big.NewInt(1), max, new(big.Int).Rsh(max, 1)}
		for range 20 {
			b := make([]byte, size/8)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			nums = append(nums, new(big.Int).Rsh(new(big.Int).SetBytes(b), uint(rng.IntN(size))))
		}
		for _, v := range nums {
			for _, dec := range []string{v.String(), "000" + v.String()} {
				got, err := merkle.LeafHash(ty, []string{dec})
				want, err2 := merkle.LeafHash(ty, []string{fmt.Sprintf("0x%x", v)})
				if err != nil || err2 != nil || got != want {
					t.Fatalf("%s %s: %s, %v; hex gives %s, %v", ty[0], dec, got, err, want, err2)
				}
			}
		}
		for _, v := range []*big.Int{limit, new(big.Int).Lsh(limit, 70), new(big.Int).Exp(big.NewInt(10), big.NewInt(80), nil)} {
			if _, err := merkle.LeafHash(ty, []string{v.String()}); err == nil || !strings.Contains(err.Error(), "overflows") {
				t.Fatalf("%s %s: error %v, want overflow", ty[0], v, err)
			}
		}
	}
}

func randomValues(rng *rand.Rand, types []string, n int) [][]string {
	values := make([][]string, n)
	for i := range values {
		v := make([]string, len(types))
		for j, ty := range types {
			switch ty {
			case "address":
				v[j] = randHex(rng, 20)
			case "bytes32":
				v[j] = randHex(rng, 32)
			case "uint256":
				switch rng.IntN(3) {
				case 0:
					v[j] = fmt.Sprint(rng.Uint64())
				case 1:
					v[j] = fmt.Sprint(rng.IntN(10))
				default:
					v[j] = fmt.Sprintf("%d%018d", rng.Uint64(), rng.Uint64()%1e18)
				}
			}
		}
		values[i] = v
	}
	return values
}

func randHex(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return fmt.Sprintf("0x%x", b)
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{"address", "uint256"}
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 100} {
		for _, sorted := range []bool{true, false} {
			values := randomValues(rng, types, n)
			tree, err := merkle.NewWithOptions(types, values, merkle.Options{SortLeaves: sorted})
			if err != nil {
				t.Fatal(err)
			}
			root := tree.Root()
			for i := range values {
				proof, err := tree.Proof(i)
				if err != nil {
					t.Fatal(err)
				}
				leaf, _ := tree.LeafHash(values[i])
				if !merkle.Verify(root, leaf, proof) {
					t.Fatalf("n=%d: proof %d does not verify", n, i)
				}
				if j, ok := tree.IndexOf(values[i]); !ok || j != i {
					t.Fatalf("IndexOf(%d) = %d, %v", i, j, ok)
				}
				if len(proof) > 0 {
					bad := append([]merkle.Hash(nil), proof...)
					bad[rng.IntN(len(bad))][rng.IntN(32)] ^= 1 << rng.IntN(8)
					if merkle.Verify(root, leaf, bad) {
						t.Fatalf("n=%d: tampered proof %d verifies", n, i)
					}
				}
				other := leaf
				other[0] ^= 1
				if merkle.Verify(root, other, proof) {
					t.Fatalf("n=%d: tampered leaf %d verifies", n, i)
				}
			}
			for k := 0; k < 10; k++ {
				idx := rng.Perm(n)[:rng.IntN(n+1)]
				mp, err := tree.MultiProof(idx)
				if err != nil {
					t.Fatal(err)
				}
				ok, err := merkle.VerifyMultiProofValues(root, types, mp)
				if err != nil || !ok {
					t.Fatalf("n=%d sorted=%v: multiproof of %v does not verify: %v", n, sorted, idx, err)
				}
				if len(mp.Proof) > 0 {
					bad := mp
					bad.Proof = append([]merkle.Hash(nil), mp.Proof...)
					bad.Proof[rng.IntN(len(bad.Proof))][0] ^= 0x80
					if ok, _ := merkle.VerifyMultiProofValues(root, types, bad); ok {
						t.Fatalf("n=%d: tampered multiproof verifies", n)
					}
				}
				if len(mp.Leaves) > 0 {
					bad := mp
					bad.Leaves = append([][]string(nil), mp.Leaves...)
					bad.Leaves[0] = []string{bad.Leaves[0][0], "123456789"}
					if ok, _ := merkle.VerifyMultiProofValues(root, types, bad); ok {
						t.Fatalf("n=%d: multiproof with a tampered leaf verifies", n)
					}
				}
			}
			if n > 1 {
				if _, err := tree.MultiProof([]int{0, 0}); err == nil {
					t.Fatal("duplicated index accepted")
				}
			}
			loaded, err := merkle.Load(tree.Dump())
			if err != nil {
				t.Fatal(err)
			}
			if loaded.Root() != root || !bytes.Equal(loaded.Dump(), tree.Dump()) {
				t.Fatal("Load(Dump()) differs")
			}
		}
	}
	tree := mustNew(t, types, randomValues(rng, types, 3))
	if _, err := tree.Proof(3); err == nil {
		t.Fatal("out of range proof index accepted")
	}
	if _, err := tree.MultiProof([]int{-1}); err == nil {
		t.Fatal("negative multiproof index accepted")
	}
}

func TestLoadRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	types := []string{"address", "uint256"}
	tree := mustNew(t, types, randomValues(rng, types, 5))
	var d map[string]any
	if err := json.Unmarshal(tree.Dump(), &d); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(d map[string]any)) []byte {
		var c map[string]any
		json.Unmarshal(tree.Dump(), &c)
		f(c)
		b, _ := json.Marshal(c)
		return b
	}
	node := func(d map[string]any, _ int) []any { return d["tree"].([]any) }
	value := func(d map[string]any, i int) map[string]any { return d["values"].([]any)[i].(map[string]any) }
	flip := func(s string) string {
		if s[2] == '0' {
			return "0x1" + s[3:]
		}
		return "0x0" + s[3:]
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"format", edit(func(d map[string]any) { d["format"] = "simple-v1" }), `unknown format "simple-v1"`},
		{"no format", edit(func(d map[string]any) { delete(d, "format") }), "missing format"},
		{"no encoding", edit(func(d map[string]any) { delete(d, "leafEncoding") }), "missing leafEncoding"},
		{"bad type", edit(func(d map[string]any) { d["leafEncoding"] = []string{"address", "uint257"} }), `leaf encoding type 1: unknown type "uint257"`},
		{"unknown field", edit(func(d map[string]any) { d["extra"] = 1 }), `unknown field "extra"`},
		{"root", edit(func(d map[string]any) { n := node(d, 0); n[0] = flip(n[0].(string)) }), "tree[0] 0x"},
		{"inner", edit(func(d map[string]any) { n := node(d, 0); n[1] = flip(n[1].(string)) }), "is not the hash of tree[3] and tree[4]"},
		{"leaf", edit(func(d map[string]any) { n := node(d, 0); n[8] = flip(n[8].(string)) }), "does not match tree[8]"},
		{"value", edit(func(d map[string]any) { value(d, 2)["value"].([]any)[1] = "77" }), "value 2: leaf hash"},
		{"bad value", edit(func(d map[string]any) { value(d, 2)["value"].([]any)[0] = "0x12" }), "value 2, field 0 (address)"},
		{"number value", edit(func(d map[string]any) { value(d, 1)["value"].([]any)[1] = 7 }), "value 1, field 1 (uint256): must be a JSON string, got 7"},
		{"null value", edit(func(d map[string]any) { value(d, 1)["value"].([]any)[1] = nil }), "must be a JSON string, got null"},
		{"field count", edit(func(d map[string]any) { value(d, 1)["value"] = []any{"1"} }), "value 1: has 1 fields"},
		{"index", edit(func(d map[string]any) { value(d, 0)["treeIndex"] = 2 }), "value 0: treeIndex 2 is not a leaf"},
		{"swap", edit(func(d map[string]any) {
			value(d, 0)["treeIndex"], value(d, 1)["treeIndex"] = value(d, 1)["treeIndex"], value(d, 0)["treeIndex"]
		}), "value 0: leaf hash"},
		{"dup index", edit(func(d map[string]any) { value(d, 1)["treeIndex"] = value(d, 0)["treeIndex"] }), "values 0 and 1 share treeIndex"},
		{"drop value", edit(func(d map[string]any) { d["values"] = d["values"].([]any)[1:] }), "tree has 9 nodes, 4 values need 7"},
		{"no values", edit(func(d map[string]any) { d["values"] = []any{} }), "no values"},
		{"upper hex", edit(func(d map[string]any) { n := node(d, 0); n[3] = strings.ToUpper(n[3].(string)) }), "hex must start with 0x"},
		{"upper digits", edit(func(d map[string]any) { n := node(d, 0); n[3] = "0x" + strings.ToUpper(n[3].(string)[2:]) }), "is not lowercase hex"},
		{"short node", edit(func(d map[string]any) { n := node(d, 0); n[3] = n[3].(string)[:64] }), "tree[3]"},
		{"trailing", append(tree.Dump(), []byte(` {}`)...), "trailing data"},
		{"not json", []byte(`{"format":`), "json:"},
	}
	for _, tc := range tests {
		_, err := merkle.Load(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, merkle.ErrInvalidDump) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

func TestProcessMultiProofMalformed(t *testing.T) {
	var h merkle.Hash
	for _, tc := range []struct {
		leaves, proof []merkle.Hash
		flags         []bool
	}{
		{nil, nil, nil},
		{[]merkle.Hash{h}, []merkle.Hash{h}, nil},
		{[]merkle.Hash{h, h}, nil, []bool{false}},
		{nil, []merkle.Hash{h, h}, []bool{true}},
		{[]merkle.Hash{h}, nil, []bool{true, true}},
	} {
		if _, err := merkle.ProcessMultiProof(tc.leaves, tc.proof, tc.flags); !errors.Is(err, merkle.ErrInvalidMultiProof) {
			t.Errorf("%d leaves, %d proof, flags %v: err %v", len(tc.leaves), len(tc.proof), tc.flags, err)
		}
	}
}

// FuzzVerifyProof feeds hostile proofs, multiproofs and dumps; nothing may
// panic, and a valid-looking result must really recompute.
func FuzzVerifyProof(f *testing.F) {
	types := []string{"address", "uint256"}
	rng := rand.New(rand.NewPCG(5, 6))
	tree := mustNew(f, types, randomValues(rng, types, 6))
	f.Add(tree.Dump(), uint8(3), []byte{1, 0, 1})
	f.Add([]byte(`{"format":"standard-v1","leafEncoding":["string"],"tree":[],"values":[]}`), uint8(0), []byte{})
	f.Add([]byte(`{"format":"standard-v1","leafEncoding":["bool"],"tree":["0x"],"values":[{"value":[true],"treeIndex":0}]}`), uint8(1), []byte{0})
	root := tree.Root()
	nodes := tree.Nodes()
	f.Fuzz(func(t *testing.T, data []byte, nLeaves uint8, flagBytes []byte) {
		if lt, err := merkle.Load(data); err == nil {
			// A loaded tree must prove all its values.
			for i := 0; i < lt.Len(); i++ {
				v, _ := lt.Value(i)
				p, err := lt.Proof(i)
				if err != nil {
					t.Fatal(err)
				}
				if ok, err := merkle.VerifyValue(lt.Root(), lt.Types(), v.Value, p); err != nil || !ok {
					t.Fatalf("loaded tree: value %d does not verify (%v)", i, err)
				}
			}
		}
		// Build hashes from the fuzz data.
		var hs []merkle.Hash
		for i := 0; i+32 <= len(data) && len(hs) < 64; i += 32 {
			var h merkle.Hash
			copy(h[:], data[i:])
			hs = append(hs, h)
		}
		hs = append(hs, nodes[int(nLeaves)%len(nodes)])
		k := int(nLeaves) % (len(hs) + 1)
		flags := make([]bool, len(flagBytes))
		for i, b := range flagBytes {
			flags[i] = b&1 == 1
		}
		merkle.VerifyMultiProof(root, hs[:k], hs[k:], flags)
		merkle.ProcessMultiProof(hs[k:], hs[:k], flags)
		merkle.Verify(root, hs[0], hs[1:])
		var mp merkle.MultiProof
		if json.Unmarshal(data, &mp) == nil {
			merkle.VerifyMultiProofValues(root, types, mp)
		}
	})
}

func BenchmarkBuild(b *testing.B) {
	types := []string{"address", "uint256"}
	values := randomValues(rand.New(rand.NewPCG(7, 8)), types, 10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := merkle.New(types, values); err != nil {
			b.Fatal(err)
		}
	}
}

// TestProofs checks Proofs against Proof for every value, over sizes
// that fill the last tree level fully, partly and not at all, sorted or
// not, with duplicate values, and that the proofs do not share capacity.
func TestProofs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	types := []string{"bytes32", "uint256"}
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 100, 1000, 1025} {
		for _, sorted := range []bool{true, false} {
			values := randomValues(rng, types, n)
			if n > 2 {
				values[n-1] = values[0] // a duplicate leaf
			}
			tree, err := merkle.NewWithOptions(types, values, merkle.Options{SortLeaves: sorted})
			if err != nil {
				t.Fatal(err)
			}
			all := tree.Proofs()
			if len(all) != n {
				t.Fatalf("n=%d sorted=%v: %d proofs", n, sorted, len(all))
			}
			for i := range n {
				p, err := tree.Proof(i)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(all[i], p) || (all[i] == nil) != (p == nil) {
					t.Fatalf("n=%d sorted=%v: Proofs()[%d] = %v, Proof(%d) = %v", n, sorted, i, all[i], i, p)
				}
				if ok, err := merkle.VerifyValue(tree.Root(), types, values[i], all[i]); err != nil || !ok {
					t.Fatalf("n=%d sorted=%v: proof %d does not verify (%v)", n, sorted, i, err)
				}
				if cap(all[i]) != len(all[i]) {
					t.Fatalf("n=%d: proof %d has spare capacity %d > %d", n, i, cap(all[i]), len(all[i]))
				}
			}
		}
	}
}

// BenchmarkBuildAndProofs is the Go half of bench/merkle.sh at a size
// go test runs quickly: build a tree of bytes32,uint256 claims and
// produce every proof.
func BenchmarkBuildAndProofs(b *testing.B) {
	types := []string{"bytes32", "uint256"}
	for _, n := range []int{10000, 100000} {
		values := randomValues(rand.New(rand.NewPCG(7, 8)), types, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tree, err := merkle.New(types, values)
				if err != nil {
					b.Fatal(err)
				}
				if len(tree.Proofs()) != n {
					b.Fatal("wrong number of proofs")
				}
			}
		})
	}
}
