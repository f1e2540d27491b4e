package chain

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/blake2b"

	"github.com/agoranet/agora/hotkey"
)

func aliceSigner(tb testing.TB) *hotkey.Signer {
	tb.Helper()
	s, err := hotkey.FromURI("//Alice")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func testParams(tb testing.TB) TxParams {
	return TxParams{
		SpecVersion: 425,
		TxVersion:   1,
		Genesis:     [32]byte(mustHex(tb, "2f0555cc76fc2840a25a6ea3b9637146806f1f44b090c175ffde2a7e5ab36c03")),
		Era:         MortalEra(64, 4242),
		EraBlock:    [32]byte(bytes.Repeat([]byte{0xbb}, 32)),
		Nonce:       300,
		Tip:         0,
	}
}

// TestSigningPayloadLayout spells out the subtensor payload field by field,
// in the order of SubtensorExtensionNames.
func TestSigningPayloadLayout(t *testing.T) {
	p := testParams(t)
	call := SetWeightsCall(1, vecUIDs, vecVals, vecVersionKey)
	want := bytes.Join([][]byte{
		call,
		// extra: CheckMortality era, CheckNonce compact, tip compact, metadata mode
		AppendEra(nil, p.Era), mustHex(t, "b104"), {0x00}, {0x00},
		// implicit: spec, tx version, genesis, era block, metadata hash None
		mustHex(t, "a9010000"), mustHex(t, "01000000"), p.Genesis[:], p.EraBlock[:], {0x00},
	}, nil)
	if got := SigningPayload(call, SubtensorExtensions(), &p); !bytes.Equal(got, want) {
		t.Fatalf("payload\n got %x\nwant %x", got, want)
	}
}

func TestSignedExtrinsicLayout(t *testing.T) {
	s := aliceSigner(t)
	p := testParams(t)
	p.Tip = 1_000_000
	call := SetWeightsCall(1, vecUIDs, vecVals, vecVersionKey)
	ext, err := SignedExtrinsic(s, call, SubtensorExtensions(), &p)
	if err != nil {
		t.Fatal(err)
	}
	size, n, err := DecodeCompact(ext)
	if err != nil || int(size) != len(ext)-n {
		t.Fatalf("length prefix %d (n=%d, %v) for %d bytes", size, n, err, len(ext))
	}
	body := ext[n:]
	pub := s.PublicKey()
	if body[0] != 0x84 || body[1] != 0x00 || !bytes.Equal(body[2:34], pub[:]) || body[34] != 0x01 {
		t.Fatalf("header %x", body[:35])
	}
	sig := body[35:99]
	extra := bytes.Join([][]byte{AppendEra(nil, p.Era), AppendCompact(nil, 300), AppendCompact(nil, 1_000_000), {0}}, nil)
	if !bytes.Equal(body[99:99+len(extra)], extra) || !bytes.Equal(body[99+len(extra):], call) {
		t.Fatalf("extra/call %x, want %x ‖ %x", body[99:], extra, call)
	}
	if !hotkey.VerifyRaw(pub, SigningPayload(call, SubtensorExtensions(), &p), sig) {
		t.Fatal("signature does not verify over the payload")
	}
	if ExtrinsicHash(ext) != TxHash(blake2b.Sum256(ext)) {
		t.Fatal("hash")
	}
}

// Payloads over 256 bytes are signed as their blake2b-256 hash.
func TestSignedExtrinsicLongPayload(t *testing.T) {
	s := aliceSigner(t)
	p := testParams(t)
	uids := make([]uint16, 120)
	for i := range uids {
		uids[i] = uint16(i)
	}
	call := RevealWeightsCall(1, uids, uids, vecSalt, 1)
	ext, err := SignedExtrinsic(s, call, SubtensorExtensions(), &p)
	if err != nil {
		t.Fatal(err)
	}
	_, n, _ := DecodeCompact(ext)
	sig := ext[n+35 : n+99]
	payload := SigningPayload(call, SubtensorExtensions(), &p)
	h := blake2b.Sum256(payload)
	if !hotkey.VerifyRaw(s.PublicKey(), h[:], sig) {
		t.Fatal("signature does not verify over blake2_256(payload)")
	}
	if hotkey.VerifyRaw(s.PublicKey(), payload, sig) {
		t.Fatal("signature verifies over the unhashed long payload")
	}
	// Exactly 256 bytes is still signed as is.
	if m := SignatureMessage(make([]byte, 256)); len(m) != 256 {
		t.Fatalf("256-byte payload became %d bytes", len(m))
	}
}

func TestSignedExtrinsicRejects(t *testing.T) {
	s := aliceSigner(t)
	p := testParams(t)
	p.Era = Era{Period: 6}
	if _, err := SignedExtrinsic(s, []byte{7, 0}, SubtensorExtensions(), &p); !errors.Is(err, ErrBadEra) {
		t.Errorf("bad era: %v", err)
	}
	p = testParams(t)
	p.Era = Era{}
	if _, err := SignedExtrinsic(s, []byte{7, 0}, SubtensorExtensions(), &p); err == nil {
		t.Error("immortal era with a non-genesis block hash accepted")
	}
	p = testParams(t)
	if _, err := SignedExtrinsic(s, []byte{7}, SubtensorExtensions(), &p); err == nil {
		t.Error("1-byte call accepted")
	}
	if _, err := SignedExtrinsic(&hotkey.Signer{}, []byte{7, 0}, SubtensorExtensions(), &p); err == nil {
		t.Error("zero Signer signed")
	}
}

func TestExtensionsFor(t *testing.T) {
	exts, err := ExtensionsFor(SubtensorExtensionNames())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ExtensionNames(exts), ","); got != strings.Join(SubtensorExtensionNames(), ",") {
		t.Fatalf("names %s", got)
	}
	names := append([]string{"CheckNonZeroSender", "FancyNewExtension"}, SubtensorExtensionNames()[1:]...)
	names = append(names, "AnotherOne")
	_, err = ExtensionsFor(names)
	var ue *UnsupportedExtensionsError
	if !errors.As(err, &ue) || strings.Join(ue.Unknown, ",") != "FancyNewExtension,AnotherOne" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "FancyNewExtension, AnotherOne") {
		t.Errorf("message does not name the unknown extensions: %v", err)
	}
	// A supplied encoder fills the gap, and may override a built-in one.
	fancy := Extension{Name: "FancyNewExtension", Extra: func(dst []byte, _ *TxParams) []byte { return append(dst, 0xfa) }}
	exts, err = ExtensionsFor([]string{"CheckNonce", "FancyNewExtension"}, fancy)
	if err != nil {
		t.Fatal(err)
	}
	p := TxParams{Nonce: 1}
	if got := AppendExtra(nil, exts, &p); !bytes.Equal(got, []byte{0x04, 0xfa}) {
		t.Fatalf("extra %x", got)
	}
	// SubtensorExtensions returns a fresh slice every time.
	a := SubtensorExtensions()
	a[0].Name = "mutated"
	if SubtensorExtensions()[0].Name != "CheckNonZeroSender" {
		t.Fatal("SubtensorExtensions shares its slice")
	}
}
