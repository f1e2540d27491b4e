package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agoranet/agora/chain"
	"github.com/agoranet/agora/chain/chaintest"
	"github.com/agoranet/agora/merkle"
)

func TestChainWeights(t *testing.T) {
	var out strings.Builder
	err := (&Main{Stdout: &out, Stderr: &out}).Run(context.Background(),
		[]string{"chain", "weights", "--uids", "0,3,7", "--weights", "1,0.5000076,0.0000153", "--netuid", "1", "--version-key", "1033", "--json"})
	if err != nil {
		t.Fatal(err, out.String())
	}
	// The reference vector's call bytes for uids [0,3,7], weights [65535,32768,1].
	if !strings.Contains(out.String(), `"call":"0x070001000c0000030007000cffff008001000904000000000000"`) {
		t.Fatalf("output: %s", out.String())
	}
	for _, bad := range [][]string{{"--uids", "0,x", "--weights", "1,1"}, {"--uids", "0", "--weights", "-1"}, {"--uids", "0,1", "--weights", "1"}} {
		out.Reset()
		if err := (&Main{Stdout: &out, Stderr: &out}).Run(context.Background(), append([]string{"chain", "weights"}, bad...)); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

func TestChainVerifyProof(t *testing.T) {
	values := [][]string{
		{"0x1111111111111111111111111111111111111111", "5000000000000000000"},
		{"0x2222222222222222222222222222222222222222", "2500000000000000000"},
		{"0x3333333333333333333333333333333333333333", "1"},
	}
	tree, err := merkle.New([]string{"address", "uint256"}, values)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := tree.Proof(1)
	if err != nil {
		t.Fatal(err)
	}
	var ps []string
	for _, h := range proof {
		ps = append(ps, h.String())
	}
	run := func(value string) error {
		var out strings.Builder
		return (&Main{Stdout: &out, Stderr: &out}).Run(context.Background(), []string{"chain", "verify-proof",
			"--root", tree.Root().String(), "--value", value, "--proof", strings.Join(ps, ",")})
	}
	if err := run(strings.Join(values[1], ",")); err != nil {
		t.Fatalf("a valid proof was refused: %v", err)
	}
	if err := run(values[1][0] + ",2500000000000000001"); err == nil || !strings.Contains(message(err), "does NOT verify") {
		t.Fatalf("a wrong amount verified: %v", err)
	}
}

// TestChainWeightsFromSnapshot resolves a snapshot's weight policy through
// a fake node's metagraph and prints why each uid gets its weight.
func TestChainWeightsFromSnapshot(t *testing.T) {
	node := chaintest.New(t)
	alice, contract := devKey(t, "//Alice"), devKey(t, "//Contract")
	node.SetNeurons(1, []chain.NeuronInfoLite{
		{Hotkey: contract.PublicKey(), Coldkey: contract.PublicKey(), UID: 4, Netuid: 1},
		{Hotkey: alice.PublicKey(), Coldkey: alice.PublicKey(), UID: 9, Netuid: 1},
	})
	snap := fmt.Sprintf(`{"epoch":2,"payouts":[{"hotkey":%q,"amount":5,"cumulative":5}],
		"weight_policy":{"targets":[{"kind":"uid","uid":0,"share":0.5},{"kind":"hotkey","hotkey":%q,"share":0.25},{"kind":"miners","share":0.25}]}}`,
		alice.Address(), contract.Address())
	file := filepath.Join(t.TempDir(), "snapshot.json")
	os.WriteFile(file, []byte(snap), 0o644)
	var out strings.Builder
	err := (&Main{Stdout: &out, Stderr: &out}).Run(context.Background(), []string{"chain", "weights", "--snapshot", file, "--chain", node.URL(), "--json"})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var got struct {
		UIDs    []uint16 `json:"uids"`
		Weights []uint16 `json:"weights"`
		Why     []string `json:"why"`
	}
	json.Unmarshal([]byte(out.String()), &got)
	if fmt.Sprint(got.UIDs) != "[0 4 9]" || fmt.Sprint(got.Weights) != "[65535 32768 32768]" || len(got.Why) != 3 {
		t.Fatalf("got %+v", got)
	}
	// Without a chain, a hotkey target cannot be resolved: a clear error.
	out.Reset()
	err = (&Main{Stdout: &out, Stderr: &out}).Run(context.Background(), []string{"chain", "weights", "--snapshot", file})
	if err == nil || !strings.Contains(message(err), "--chain") {
		t.Fatalf("no chain: %v", err)
	}
}
