package chain

import (
	"bytes"
	"testing"
)

// alice is the public key of the Substrate dev account //Alice
// (5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY).
func alice(tb testing.TB) [32]byte {
	return [32]byte(mustHex(tb, "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"))
}

// Inputs of the cross-checked vectors in the interop reference (§3): Go
// (GSRPC codec) and JS (@polkadot/types) agreed on these bytes.
var (
	vecUIDs = []uint16{0, 3, 7}
	vecVals = []uint16{65535, 32768, 1}
	vecSalt = []uint16{11, 22, 33, 44, 55, 66, 77, 88}
)

const vecVersionKey = 1033

func TestSetWeightsCall(t *testing.T) {
	got := SetWeightsCall(1, vecUIDs, vecVals, vecVersionKey)
	want := mustHex(t, "0700"+"0100"+"0c000003000700"+"0cffff00800100"+"0904000000000000")
	if !bytes.Equal(got, want) {
		t.Fatalf("set_weights call\n got %x\nwant %x", got, want)
	}
}

func TestSetWeightsCallEmpty(t *testing.T) {
	got := SetWeightsCall(300, nil, nil, 0)
	want := mustHex(t, "0700"+"2c01"+"00"+"00"+"0000000000000000")
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
}

func TestCommitHash(t *testing.T) {
	got := CommitHash(alice(t), 1, vecUIDs, vecVals, vecSalt, vecVersionKey)
	want := mustHex(t, "b8671d6614578c96f721634ee4e54bdfbdca9568e73e362f603296233aa5d887")
	if !bytes.Equal(got[:], want) {
		t.Fatalf("commit hash\n got %x\nwant %x", got, want)
	}
	// Every input is hashed: changing any one changes the hash.
	others := map[string][32]byte{
		"who":     CommitHash([32]byte{}, 1, vecUIDs, vecVals, vecSalt, vecVersionKey),
		"netuid":  CommitHash(alice(t), 2, vecUIDs, vecVals, vecSalt, vecVersionKey),
		"uids":    CommitHash(alice(t), 1, []uint16{0, 3, 8}, vecVals, vecSalt, vecVersionKey),
		"values":  CommitHash(alice(t), 1, vecUIDs, []uint16{65535, 32768, 2}, vecSalt, vecVersionKey),
		"salt":    CommitHash(alice(t), 1, vecUIDs, vecVals, vecSalt[:7], vecVersionKey),
		"version": CommitHash(alice(t), 1, vecUIDs, vecVals, vecSalt, vecVersionKey+1),
	}
	for name, h := range others {
		if h == got {
			t.Errorf("changing %s did not change the hash", name)
		}
	}
}

func TestCommitWeightsCall(t *testing.T) {
	h := CommitHash(alice(t), 1, vecUIDs, vecVals, vecSalt, vecVersionKey)
	got := CommitWeightsCall(1, h)
	want := mustHex(t, "0760"+"0100"+"b8671d6614578c96f721634ee4e54bdfbdca9568e73e362f603296233aa5d887")
	if !bytes.Equal(got, want) {
		t.Fatalf("commit_weights call\n got %x\nwant %x", got, want)
	}
}

func TestRevealWeightsCall(t *testing.T) {
	got := RevealWeightsCall(1, vecUIDs, vecVals, vecSalt, vecVersionKey)
	want := mustHex(t, "0761"+"0100"+"0c000003000700"+"0cffff00800100"+
		"20"+"0b00160021002c00370042004d005800"+"0904000000000000")
	if !bytes.Equal(got, want) {
		t.Fatalf("reveal_weights call\n got %x\nwant %x", got, want)
	}
}

func TestNetuidIndex(t *testing.T) {
	for _, tt := range []struct {
		netuid uint16
		mecid  uint8
		want   uint16
	}{{1, 0, 1}, {1, 1, 4097}, {64, 2, 8256}, {4095, 15, 65535}} {
		if got := NetuidIndex(tt.netuid, tt.mecid); got != tt.want {
			t.Errorf("NetuidIndex(%d, %d) = %d, want %d", tt.netuid, tt.mecid, got, tt.want)
		}
	}
}

// TestConvertThenSetWeights runs the whole pure path: float weights to call
// bytes.
func TestConvertThenSetWeights(t *testing.T) {
	uids, vals, err := ConvertWeights([]int{0, 3, 7, 9}, []float64{1, 0.5, 1.0 / 65535, 0})
	if err != nil {
		t.Fatal(err)
	}
	got := SetWeightsCall(1, uids, vals, vecVersionKey)
	want := SetWeightsCall(1, vecUIDs, vecVals, vecVersionKey)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x (uids %v vals %v)", got, want, uids, vals)
	}
}

func BenchmarkCommitHash(b *testing.B) {
	uids := make([]uint16, 256)
	vals := make([]uint16, 256)
	for i := range uids {
		uids[i], vals[i] = uint16(i), uint16(i*255)
	}
	who := alice(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		CommitHash(who, 1, uids, vals, vecSalt, vecVersionKey)
	}
}
