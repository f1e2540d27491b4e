package hotkey

import "github.com/ChainSafe/go-schnorrkel"

// VerifyRaw reports whether sig is pub's sr25519 signature over exactly
// msg. Unlike VerifyKey it does not also try the <Bytes>-wrapped message:
// a runtime checking an extrinsic signature accepts the raw payload only,
// so a fake node (chain/chaintest) must not be more lenient than that.
func VerifyRaw(pub [32]byte, msg, sig []byte) bool {
	if len(sig) != SignatureSize {
		return false
	}
	pk, err := schnorrkel.NewPublicKey(pub)
	if err != nil {
		return false
	}
	var s schnorrkel.Signature
	if err := s.Decode([SignatureSize]byte(sig)); err != nil {
		return false
	}
	return verifyRaw(pk, &s, msg)
}
