package main

import (
	"context"
	"strings"
	"testing"

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
