package hotkey_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/vedhavyas/go-subkey/v2"
	"github.com/vedhavyas/go-subkey/v2/sr25519"

	"github.com/agoranet/agora/hotkey"
)

// Known-answer vectors from bittensor_interop.md §3, checked there against
// polkadot-js 14.0.3 and go-subkey.
const (
	aliceAddress = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
	alicePubHex  = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
	aliceSeedHex = "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"
	bobAddress   = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"

	// Alice's signature over "hello bittensor", made by polkadot-js.
	helloSigHex = "0x6e271c9145d1949064212981280730f85064dfca522c1557ab2dc28d856a2e203f45b4306b6b437e4033686c7078cdc21e5888b399046a1903232d44fc65028e"
)

// MustURI returns the Signer for uri or fails the test.
func MustURI(tb testing.TB, uri string) *hotkey.Signer {
	tb.Helper()
	s, err := hotkey.FromURI(uri)
	if err != nil {
		tb.Fatalf("FromURI(%q): %v", uri, err)
	}
	return s
}

// MustSign signs msg or fails the test.
func MustSign(tb testing.TB, s *hotkey.Signer, msg []byte) []byte {
	tb.Helper()
	sig, err := s.Sign(msg)
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

func randomBytes(tb testing.TB, n int) []byte {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestAlice(t *testing.T) {
	seed, _ := hex.DecodeString(strings.TrimPrefix(aliceSeedHex, "0x"))
	fromSeed, err := hotkey.FromSeed([32]byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*hotkey.Signer{
		"URI":          MustURI(t, "//Alice"),
		"DevMnemonic":  MustURI(t, hotkey.DevPhrase+"//Alice"),
		"HexSeed":      MustURI(t, aliceSeedHex),
		"FromSeed":     fromSeed,
		"SpacedPhrase": MustURI(t, "  bottom drive obey lake curtain smoke   basket hold race lonely fit walk//Alice"),
	} {
		t.Run(name, func(t *testing.T) {
			if got := s.Address(); got != aliceAddress {
				t.Errorf("Address=%s, want %s", got, aliceAddress)
			}
			pub := s.PublicKey()
			if got := hex.EncodeToString(pub[:]); got != alicePubHex {
				t.Errorf("PublicKey=%s, want %s", got, alicePubHex)
			}
		})
	}
	if got := MustURI(t, "//Bob").Address(); got != bobAddress {
		t.Errorf("//Bob Address=%s, want %s", got, bobAddress)
	}
}

// TestFromURIMatchesSubkey derives keys along hard, soft, numeric, long and
// password-protected paths and compares them with go-subkey, an independent
// implementation of Substrate's URI rules. The npm interop test does the
// same against polkadot-js.
func TestFromURIMatchesSubkey(t *testing.T) {
	uris := []string{
		"//Alice",
		"//Alice/soft",
		"//Alice//stash",
		"/soft/soft2",
		"//0",
		"//1/2//3",
		"//18446744073709551615",
		"//" + strings.Repeat("long-junction", 4),
		"/" + strings.Repeat("x", 100),
		hotkey.DevPhrase,
		hotkey.DevPhrase + "///password",
		hotkey.DevPhrase + "//hard/soft///pass/with/slashes",
		aliceSeedHex + "//child/grandchild",
		"legal winner thank year wave sausage worth useful legal winner thank yellow//agora//miner/1",
	}
	for _, uri := range uris {
		t.Run(uri, func(t *testing.T) {
			kp, err := subkey.DeriveKeyPair(sr25519.Scheme{}, uri)
			if err != nil {
				t.Fatal(err)
			}
			s := MustURI(t, uri)
			if pub := s.PublicKey(); !bytes.Equal(pub[:], kp.Public()) {
				t.Errorf("PublicKey=%x, want %x", pub, kp.Public())
			}
			if got, want := s.Address(), kp.SS58Address(hotkey.SS58Prefix); got != want {
				t.Errorf("Address=%s, want %s", got, want)
			}
			// Soft derivation must not depend on randomness.
			if again := MustURI(t, uri); again.PublicKey() != s.PublicKey() {
				t.Error("derivation is not deterministic")
			}
		})
	}
}

func TestFromURIErrors(t *testing.T) {
	for _, tt := range []struct {
		name, uri, want string
	}{
		{"Empty", "", "empty"},
		{"Blank", "   ", "empty"},
		{"NotWords", "hello world", "not valid BIP39"},
		{"BadChecksum", "bottom drive obey lake curtain smoke basket hold race lonely fit fit", "not valid BIP39"},
		{"ShortSeed", "0x1234", "want a 32-byte mini-secret"},
		{"LongSeed", "0x" + strings.Repeat("ab", 64), "want a 32-byte mini-secret"},
		{"BadHex", "0x" + strings.Repeat("zz", 32), "hex seed"},
		{"BareHex", strings.TrimPrefix(aliceSeedHex, "0x"), "0x prefix"},
		{"BadSyntax", "bottom-drive", "key uri"},
		{"TooLong", strings.Repeat("a ", 5000), "limit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := hotkey.FromURI(tt.uri)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err=%v, want it to mention %q", err, tt.want)
			}
			// A secret in an error would end up in logs.
			if tt.uri != "" && len(tt.uri) > 20 && strings.Contains(err.Error(), tt.uri) {
				t.Errorf("error echoes the secret: %v", err)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	for _, words := range []int{12, 15, 18, 21, 24} {
		t.Run(fmt.Sprint(words), func(t *testing.T) {
			s, m, err := hotkey.Generate(words)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(strings.Fields(m)); n != words {
				t.Fatalf("mnemonic has %d words, want %d", n, words)
			}
			again, err := hotkey.FromMnemonic(m, "")
			if err != nil {
				t.Fatal(err)
			}
			if again.Address() != s.Address() {
				t.Errorf("FromMnemonic Address=%s, want %s", again.Address(), s.Address())
			}
			other, _, err := hotkey.Generate(words)
			if err != nil {
				t.Fatal(err)
			}
			if other.Address() == s.Address() {
				t.Error("two generated keys are equal")
			}
		})
	}
	for _, words := range []int{0, 11, 13, 27} {
		if _, _, err := hotkey.Generate(words); err == nil {
			t.Errorf("Generate(%d) succeeded", words)
		}
	}
}

func TestVerifyPolkadotJS(t *testing.T) {
	sig, err := hotkey.ParseSignature(helloSigHex)
	if err != nil {
		t.Fatal(err)
	}
	if err := hotkey.Verify(aliceAddress, []byte("hello bittensor"), sig); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for name, tt := range map[string]struct {
		addr string
		msg  string
	}{
		"TamperedMessage": {aliceAddress, "hello bittensor!"},
		"OtherKey":        {bobAddress, "hello bittensor"},
		"Empty":           {aliceAddress, ""},
	} {
		t.Run(name, func(t *testing.T) {
			if err := hotkey.Verify(tt.addr, []byte(tt.msg), sig); !errors.Is(err, hotkey.ErrBadSignature) {
				t.Fatalf("err=%v, want ErrBadSignature", err)
			}
		})
	}
}

// TestVerifyBytesWrapped checks the <Bytes> rule: a signature over the
// wrapped message (what a wallet extension makes) verifies against the raw
// message, as in Python and polkadot-js signatureVerify.
func TestVerifyBytesWrapped(t *testing.T) {
	alice := MustURI(t, "//Alice")
	msg := []byte("agora: register miner")
	wrapped := append(append([]byte("<Bytes>"), msg...), "</Bytes>"...)
	sig := MustSign(t, alice, wrapped)
	if err := hotkey.Verify(alice.Address(), msg, sig); err != nil {
		t.Errorf("raw message: %v", err)
	}
	if err := hotkey.Verify(alice.Address(), wrapped, sig); err != nil {
		t.Errorf("wrapped message: %v", err)
	}
	// Only one level of wrapping is tried, and a raw signature does not
	// verify the wrapped text.
	if err := hotkey.Verify(alice.Address(), []byte("<Bytes>"), sig); err == nil {
		t.Error("verified a prefix of the wrapped message")
	}
	raw := MustSign(t, alice, msg)
	if err := hotkey.Verify(alice.Address(), wrapped, raw); err == nil {
		t.Error("raw signature verified the wrapped message")
	}
}

func TestZeroSigner(t *testing.T) {
	var s hotkey.Signer
	if _, err := s.Sign([]byte("x")); err == nil {
		t.Fatal("zero Signer signed")
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	signer, _, err := hotkey.Generate(12)
	if err != nil {
		t.Fatal(err)
	}
	other := MustURI(t, "//Bob")
	for name, msg := range map[string][]byte{
		"Empty":   {},
		"Short":   []byte("hello"),
		"Unicode": []byte("héllo, 世界 🐝"),
		// GSRPC would blake2-hash this one before signing; we must not.
		"Over256": bytes.Repeat([]byte{0xa5}, 300),
		"Large":   randomBytes(t, 1<<16),
		"Hex0x":   []byte("0xdeadbeef"),
	} {
		t.Run(name, func(t *testing.T) {
			sig1 := MustSign(t, signer, msg)
			sig2 := MustSign(t, signer, msg)
			if len(sig1) != hotkey.SignatureSize {
				t.Fatalf("len(sig)=%d, want %d", len(sig1), hotkey.SignatureSize)
			}
			if sig1[63]&0x80 == 0 {
				t.Error("schnorrkel marker bit not set")
			}
			if bytes.Equal(sig1, sig2) {
				t.Error("two signatures are equal; sr25519 signing should be randomised")
			}
			for i, sig := range [][]byte{sig1, sig2} {
				if err := hotkey.Verify(signer.Address(), msg, sig); err != nil {
					t.Errorf("sig%d: %v", i+1, err)
				}
			}
			// The raw message is signed, so the same signature over
			// blake2(msg) or with one bit flipped must fail.
			tampered := append([]byte{}, msg...)
			if len(tampered) == 0 {
				tampered = []byte{0}
			} else {
				tampered[len(tampered)/2] ^= 1
			}
			if err := hotkey.Verify(signer.Address(), tampered, sig1); !errors.Is(err, hotkey.ErrBadSignature) {
				t.Errorf("tampered message: err=%v, want ErrBadSignature", err)
			}
			if err := hotkey.Verify(other.Address(), msg, sig1); !errors.Is(err, hotkey.ErrBadSignature) {
				t.Errorf("other key: err=%v, want ErrBadSignature", err)
			}
			badSig := append([]byte{}, sig1...)
			badSig[10] ^= 0x40
			if hotkey.VerifyKey(signer.PublicKey(), msg, badSig) {
				t.Error("flipped signature bit verified")
			}
			unmarked := append([]byte{}, sig1...)
			unmarked[63] &^= 0x80
			if hotkey.VerifyKey(signer.PublicKey(), msg, unmarked) {
				t.Error("signature without the schnorrkel marker verified")
			}
			if hotkey.VerifyKey(signer.PublicKey(), msg, sig1[:63]) {
				t.Error("short signature verified")
			}
		})
	}
}

func TestVerifyBadAddress(t *testing.T) {
	sig := MustSign(t, MustURI(t, "//Alice"), []byte("x"))
	err := hotkey.Verify("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ", []byte("x"), sig)
	if !errors.Is(err, hotkey.ErrChecksum) {
		t.Fatalf("err=%v, want ErrChecksum", err)
	}
	// 32 bytes that are not a valid ristretto point.
	var notPoint [32]byte
	for i := range notPoint {
		notPoint[i] = 0xff
	}
	if hotkey.VerifyKey(notPoint, []byte("x"), sig) {
		t.Error("verified against an invalid public key")
	}
}

func TestParseSignature(t *testing.T) {
	want, _ := hex.DecodeString(strings.TrimPrefix(helloSigHex, "0x"))
	for _, tt := range []struct {
		name, in string
		ok       bool
	}{
		{"Prefixed", helloSigHex, true},
		{"Bare", strings.TrimPrefix(helloSigHex, "0x"), true},
		{"UpperPrefix", "0X" + strings.TrimPrefix(helloSigHex, "0x"), true},
		{"UpperHex", "0x" + strings.ToUpper(strings.TrimPrefix(helloSigHex, "0x")), true},
		{"Short", helloSigHex[:len(helloSigHex)-2], false},
		{"Long", helloSigHex + "00", false},
		{"NotHex", "0x" + strings.Repeat("g", 128), false},
		{"DoublePrefix", "0x0x" + strings.TrimPrefix(helloSigHex, "0x")[2:], false},
		{"Empty", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := hotkey.ParseSignature(tt.in)
			if !tt.ok {
				if !errors.Is(err, hotkey.ErrBadSignature) {
					t.Fatalf("err=%v, want ErrBadSignature", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got %x, want %x", got, want)
			}
		})
	}
	if got := hotkey.FormatSignature(want); got != helloSigHex {
		t.Errorf("FormatSignature=%s, want %s", got, helloSigHex)
	}
}

// TestSignerDoesNotLeak formats and logs a Signer every way a careless
// caller might and checks that no secret appears.
func TestSignerDoesNotLeak(t *testing.T) {
	s, mnemonic, err := hotkey.Generate(12)
	if err != nil {
		t.Fatal(err)
	}
	seedless := MustURI(t, mnemonic+"/soft")
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	for _, s := range []*hotkey.Signer{s, seedless, MustURI(t, aliceSeedHex)} {
		log.Info("loaded", "hotkey", s)
		// Through any, so vet lets us use verbs a careless caller might.
		var p, v any = s, *s
		out := fmt.Sprintf("%v %+v %#v %s %q %x %d %+d", p, p, p, p, p, p, p, p) +
			fmt.Sprintf("%v %+v %#v %x %d", v, v, v, v, v) + logs.String()
		for _, secret := range []string{
			mnemonic,
			strings.Fields(mnemonic)[0] + " " + strings.Fields(mnemonic)[1],
			strings.TrimPrefix(aliceSeedHex, "0x")[:16],
			// Alice's seed and canonical secret scalar, printed as %d
			// would print byte arrays.
			"229 190 154 80",
			"51 166 243 9",
		} {
			if strings.Contains(out, secret) {
				t.Fatalf("formatted Signer contains a secret: %s", out)
			}
		}
		if !strings.Contains(out, s.Address()) {
			t.Errorf("formatted Signer lacks its address: %s", out)
		}
	}
}
