package hotkey

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/ChainSafe/go-schnorrkel"
)

// ErrBadSignature is returned when a signature does not verify, or is not a
// well-formed sr25519 signature at all.
var ErrBadSignature = errors.New("signature does not verify")

// Verify checks that sig is address's signature over msg. Like the Python
// SDK and polkadot-js signatureVerify, it tries the raw message first and
// then "<Bytes>"+msg+"</Bytes>", the form wallet extensions sign. It returns
// nil, an SS58 error from SS58Decode, or an error wrapping ErrBadSignature.
func Verify(address string, msg, sig []byte) error {
	pub, err := SS58Decode(address)
	if err != nil {
		return err
	}
	if !VerifyKey(pub, msg, sig) {
		return fmt.Errorf("%s: %w", address, ErrBadSignature)
	}
	return nil
}

// VerifyKey reports whether sig is pub's signature over msg, raw or
// <Bytes>-wrapped, as Verify does.
func VerifyKey(pub [32]byte, msg, sig []byte) bool {
	if len(sig) != SignatureSize {
		return false
	}
	pk, err := schnorrkel.NewPublicKey(pub)
	if err != nil {
		return false
	}
	var s schnorrkel.Signature
	// Decode rejects signatures without schnorrkel's marker bit, as
	// Substrate does, so an ed25519 signature cannot pass as sr25519.
	if err := s.Decode([SignatureSize]byte(sig)); err != nil {
		return false
	}
	if verifyRaw(pk, &s, msg) {
		return true
	}
	return verifyRaw(pk, &s, wrapBytes(msg))
}

func verifyRaw(pk *schnorrkel.PublicKey, s *schnorrkel.Signature, msg []byte) bool {
	ok, err := pk.Verify(s, schnorrkel.NewSigningContext([]byte(SigningContext), msg))
	return err == nil && ok
}

// wrapBytes returns "<Bytes>"+msg+"</Bytes>".
func wrapBytes(msg []byte) []byte {
	b := make([]byte, 0, len(msg)+len("<Bytes></Bytes>"))
	b = append(b, "<Bytes>"...)
	b = append(b, msg...)
	return append(b, "</Bytes>"...)
}

// ParseSignature decodes a 64-byte signature written as hex, with or
// without the 0x prefix: Epistula and the SDK write "0x"+hex, Ridges-style
// uploads write bare hex.
func ParseSignature(s string) ([]byte, error) {
	h := s
	if strings.HasPrefix(h, "0x") || strings.HasPrefix(h, "0X") {
		h = h[2:]
	}
	if len(h) != 2*SignatureSize {
		return nil, fmt.Errorf("signature has %d hex digits, want %d: %w", len(h), 2*SignatureSize, ErrBadSignature)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("signature is not hex: %w", ErrBadSignature)
	}
	return b, nil
}

// FormatSignature writes a signature as "0x"+hex, the form Epistula and the
// Python SDK use.
func FormatSignature(sig []byte) string {
	return "0x" + hex.EncodeToString(sig)
}
