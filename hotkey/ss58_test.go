package hotkey_test

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/decred/base58"
	"github.com/vedhavyas/go-subkey/v2"

	"github.com/agoranet/agora/hotkey"
)

func TestSS58Decode(t *testing.T) {
	alicePub, _ := hex.DecodeString(alicePubHex)
	for _, tt := range []struct {
		name, addr string
		want       error
	}{
		{"OK", aliceAddress, nil},
		{"Empty", "", hotkey.ErrAddressLength},
		{"NotBase58", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKut0Y", hotkey.ErrBase58}, // '0' is not in the alphabet
		{"Space", " " + aliceAddress, hotkey.ErrBase58},
		{"Short", aliceAddress[:40], hotkey.ErrAddressLength},
		{"Long", aliceAddress + "2", hotkey.ErrAddressLength},
		{"VeryLong", strings.Repeat("5", 1000), hotkey.ErrAddressLength},
		{"Checksum", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ", hotkey.ErrChecksum},
		{"Typo", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKvtQY", hotkey.ErrChecksum},
		// Alice on Polkadot (prefix 0), Kusama (2) and a two-byte prefix
		// chain: valid SS58, wrong network.
		{"Polkadot", subkey.SS58Encode(alicePub, 0), hotkey.ErrPrefix},
		{"Kusama", subkey.SS58Encode(alicePub, 2), hotkey.ErrPrefix},
		{"TwoBytePrefix", subkey.SS58Encode(alicePub, 1284), hotkey.ErrPrefix},
		{"Reserved", base58.Encode(append([]byte{0x80}, make([]byte, 34)...)), hotkey.ErrPrefix},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := hotkey.SS58Decode(tt.addr)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err=%v, want %v", err, tt.want)
			}
			if tt.want == nil && hex.EncodeToString(pub[:]) != alicePubHex {
				t.Errorf("pub=%x, want %s", pub, alicePubHex)
			}
		})
	}
}

func TestSS58PrefixNamed(t *testing.T) {
	alicePub, _ := hex.DecodeString(alicePubHex)
	for _, prefix := range []uint16{0, 2, 64, 1284, 16383} {
		_, err := hotkey.SS58Decode(subkey.SS58Encode(alicePub, prefix))
		if !errors.Is(err, hotkey.ErrPrefix) {
			t.Fatalf("prefix %d: err=%v, want ErrPrefix", prefix, err)
		}
		if want := "prefix " + strconv.Itoa(int(prefix)) + ","; !strings.Contains(err.Error(), want) {
			t.Errorf("prefix %d: error %q does not name it", prefix, err)
		}
	}
}

// TestSS58RoundTrip encodes random keys and checks both directions against
// go-subkey.
func TestSS58RoundTrip(t *testing.T) {
	for i := 0; i < 500; i++ {
		pub := [32]byte(randomBytes(t, 32))
		addr := hotkey.SS58Encode(pub)
		if want := subkey.SS58Encode(pub[:], hotkey.SS58Prefix); addr != want {
			t.Fatalf("SS58Encode(%x)=%s, want %s", pub, addr, want)
		}
		got, err := hotkey.SS58Decode(addr)
		if err != nil {
			t.Fatalf("SS58Decode(%s): %v", addr, err)
		}
		if got != pub {
			t.Fatalf("SS58Decode(%s)=%x, want %x", addr, got, pub)
		}
	}
}
