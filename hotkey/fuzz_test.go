package hotkey_test

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vedhavyas/go-subkey/v2"
	"github.com/vedhavyas/go-subkey/v2/sr25519"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
)

func FuzzSS58Decode(f *testing.F) {
	alicePub, _ := hex.DecodeString(alicePubHex)
	for _, s := range []string{
		aliceAddress,
		bobAddress,
		"",
		"1",
		"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ",
		subkey.SS58Encode(alicePub, 0),
		subkey.SS58Encode(alicePub, 1284),
		strings.Repeat("z", 48),
		"0x" + alicePubHex,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		pub, err := hotkey.SS58Decode(addr)
		if err != nil {
			if !errors.Is(err, hotkey.ErrBase58) && !errors.Is(err, hotkey.ErrAddressLength) &&
				!errors.Is(err, hotkey.ErrChecksum) && !errors.Is(err, hotkey.ErrPrefix) {
				t.Fatalf("SS58Decode(%q): unclassified error %v", addr, err)
			}
			return
		}
		// Base58 is a bijection, so a decoded address re-encodes to itself.
		if got := hotkey.SS58Encode(pub); got != addr {
			t.Fatalf("SS58Decode(%q) re-encodes as %q", addr, got)
		}
		format, b, err := subkey.SS58Decode(addr)
		if err != nil || format != hotkey.SS58Prefix || string(b) != string(pub[:]) {
			t.Fatalf("go-subkey disagrees on %q: format=%d key=%x err=%v", addr, format, b, err)
		}
	})
}

// FuzzEpistulaVerify feeds arbitrary header values and bodies to Verify.
// It must never panic, every refusal must be a classified EUNAUTHORIZED
// error with a bounded message, and acceptance must name the signer.
func FuzzEpistulaVerify(f *testing.F) {
	f.Add("2", vecTimestamp, vecUUID, aliceAddress, vecSignature, bobAddress, []byte(vecBody))
	f.Add("2", vecTimestamp, vecUUID, aliceAddress, vecSignature, "", []byte(vecBody))
	f.Add("1", "0", "", "", "", "", []byte{})
	f.Add("2", "+1731600000123", strings.ToUpper(vecUUID), bobAddress, vecSignature[2:], bobAddress, []byte("{}"))
	f.Add("2", "999999999999999999", vecUUID, aliceAddress, "0x"+strings.Repeat("f", 128), bobAddress, []byte(nil))
	f.Add("2", vecTimestamp, vecUUID, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ", vecSignature, bobAddress, []byte(vecBody))
	f.Add("2\x00", "1731600000123\n", vecUUID+" ", aliceAddress, strings.Repeat("0x", 65), strings.Repeat("é", 200), []byte(vecBody))
	now := vecTime.Add(time.Second)
	known := []error{
		hotkey.ErrMissingHeader, hotkey.ErrMalformedHeader, hotkey.ErrUnsupportedVersion,
		hotkey.ErrStale, hotkey.ErrFuture, hotkey.ErrWrongReceiver, hotkey.ErrReplay, hotkey.ErrBadSignature,
	}
	f.Fuzz(func(t *testing.T, version, ts, id, signedBy, sig, signedFor string, body []byte) {
		h := http.Header{}
		for name, val := range map[string]string{
			hotkey.HeaderVersion:   version,
			hotkey.HeaderTimestamp: ts,
			hotkey.HeaderUUID:      id,
			hotkey.HeaderSignedBy:  signedBy,
			hotkey.HeaderSignature: sig,
			hotkey.HeaderSignedFor: signedFor,
		} {
			if val != "" {
				h[name] = []string{val}
			}
		}
		v := newVerifier(bobAddress, now)
		v.AllowUnaddressed = len(body)%2 == 0 // cover both modes
		signer, err := v.Verify(context.Background(), h, body, now)
		if err == nil {
			if signer != signedBy {
				t.Fatalf("accepted with signer %q, header said %q", signer, signedBy)
			}
			return
		}
		var ee *hotkey.EpistulaError
		if !errors.As(err, &ee) || ee.Header == "" {
			t.Fatalf("unclassified error %v", err)
		}
		n := 0
		for _, k := range known {
			if errors.Is(err, k) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("error %v matches %d kinds, want 1", err, n)
		}
		if agora.ErrorCode(err) != agora.EUNAUTHORIZED {
			t.Fatalf("code %s, want %s", agora.ErrorCode(err), agora.EUNAUTHORIZED)
		}
		if msg := agora.ErrorMessage(err); len(msg) > 600 {
			t.Fatalf("message of %d bytes: a client controls its length", len(msg))
		}
	})
}

// FuzzParseWalletFile must never panic, and a key it accepts must sign as
// the address it reports.
func FuzzParseWalletFile(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "wallet", "*"))
	for _, path := range files {
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"secretSeed":null,"privateKey":"0x` + strings.Repeat("ff", 64) + `"}`))
	f.Add([]byte(`{"privateKey":"0x` + strings.Repeat("00", 64) + `","ss58Address":"` + aliceAddress + `"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := hotkey.ParseWalletFile(data)
		if err != nil {
			return
		}
		msg := []byte("fuzz")
		sig, err := s.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := hotkey.Verify(s.Address(), msg, sig); err != nil {
			t.Fatalf("accepted key does not verify: %v", err)
		}
	})
}

// FuzzFromURI must never panic, must be deterministic, and must agree with
// go-subkey whenever both accept a URI.
func FuzzFromURI(f *testing.F) {
	for _, s := range []string{
		"//Alice", "//Alice/soft", "//1//2/3", "/", "//", "///", "////x", aliceSeedHex, aliceSeedHex + "//x/y///pw",
		hotkey.DevPhrase, hotkey.DevPhrase + "///", "0x", "0x//a", "a//b", "//" + strings.Repeat("é", 40),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		s, err := hotkey.FromURI(uri)
		if err != nil {
			return
		}
		again, err := hotkey.FromURI(uri)
		if err != nil || again.PublicKey() != s.PublicKey() {
			t.Fatalf("FromURI(%q) is not deterministic: %v", uri, err)
		}
		kp, err := deriveSubkey(uri)
		if err != nil || kp == nil {
			return
		}
		if pub := s.PublicKey(); string(pub[:]) != string(kp.Public()) {
			t.Fatalf("FromURI(%q)=%x, go-subkey %x", uri, pub, kp.Public())
		}
	})
}

// deriveSubkey runs go-subkey, turning its panics into errors: it is the
// oracle here, not the code under test.
func deriveSubkey(uri string) (kp subkey.KeyPair, err error) {
	defer func() {
		if recover() != nil {
			kp, err = nil, errors.New("go-subkey panicked")
		}
	}()
	return subkey.DeriveKeyPair(sr25519.Scheme{}, uri)
}
