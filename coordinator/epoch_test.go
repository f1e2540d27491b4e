package coordinator_test

import (
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/coordinator"
	"github.com/agoranet/agora/hotkey"
)

func TestParseClaimLeaf(t *testing.T) {
	for _, tc := range []struct {
		in, want, code string
	}{
		{"", "bytes32,uint256", ""},
		{coordinator.ClaimLeafBytes32, "bytes32,uint256", ""},
		{coordinator.ClaimLeafAddress, "address,uint256", ""},
		{"string,uint256", "", agora.EINVALID},
		{"bytes32", "", agora.EINVALID},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := coordinator.ParseClaimLeaf(tc.in)
			if code := agora.ErrorCode(err); code != tc.code {
				t.Fatalf("code %q (%v), want %q", code, err, tc.code)
			}
			if tc.code == "" && strings.Join(got, ",") != tc.want {
				t.Fatalf("types %v, want %s", got, tc.want)
			}
		})
	}
	// The slice is the caller's: changing it changes no later answer.
	a, _ := coordinator.ParseClaimLeaf(coordinator.ClaimLeafBytes32)
	a[0] = "address"
	if b, _ := coordinator.ParseClaimLeaf(coordinator.ClaimLeafBytes32); b[0] != "bytes32" {
		t.Fatalf("a caller's change leaked into the default: %v", b)
	}
}

func TestClaimant(t *testing.T) {
	s, err := hotkey.FromURI("//Alice")
	if err != nil {
		t.Fatal(err)
	}
	full, err := coordinator.Claimant([]string{"bytes32", "uint256"}, s.Address())
	if err != nil || len(full) != 2+64 {
		t.Fatalf("bytes32 claimant %q: %v", full, err)
	}
	addr, err := coordinator.Claimant([]string{"address", "uint256"}, s.Address())
	if err != nil || addr != full[:2+40] {
		t.Fatalf("address claimant %q, want the key's first 20 bytes %q: %v", addr, full[:2+40], err)
	}
	if _, err := coordinator.Claimant(nil, "not-an-address"); agora.ErrorCode(err) != agora.EINVALID {
		t.Fatalf("bad hotkey: %v", err)
	}
}
