package chain

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/blake2b"

	"github.com/agoranet/agora/hotkey"
)

// TxParams are the values a signed transaction's extensions draw on: what
// they send inside the extrinsic ("extra") and what they only sign
// ("implicit", Substrate's additional signed data, which the node fills in
// from its own state when it checks the signature).
type TxParams struct {
	SpecVersion uint32   // runtime spec_version (CheckSpecVersion)
	TxVersion   uint32   // runtime transaction_version (CheckTxVersion)
	Genesis     [32]byte // hash of block 0 (CheckGenesis)
	Era         Era      // CheckMortality
	// EraBlock is the hash of the era's birth block (Era.Birth of the
	// signing block); for the immortal era it must be Genesis.
	EraBlock [32]byte
	Nonce    uint64 // the signer's account nonce (CheckNonce)
	Tip      uint64 // ChargeTransactionPayment(Wrapper), in rao
}

// Extension is one transaction extension (signed extension) of the runtime:
// its identifier, as listed in the metadata, and how it encodes. Extra
// appends the bytes the extension carries inside the extrinsic; Implicit
// appends the bytes it adds to the signing payload only. A nil func means
// the extension contributes nothing there; most are zero-sized on both.
type Extension struct {
	Name     string
	Extra    func(dst []byte, p *TxParams) []byte
	Implicit func(dst []byte, p *TxParams) []byte
}

// Encoders of the extensions we know. Subtensor's CheckMortality, CheckNonce
// and ChargeTransactionPaymentWrapper are its own types, but they encode
// exactly like frame_system's CheckMortality and CheckNonce and
// pallet_transaction_payment's ChargeTransactionPayment (runtime/src/
// check_mortality.rs, check_nonce.rs, transaction_payment_wrapper.rs).
var (
	extSpecVersion = func(dst []byte, p *TxParams) []byte { return AppendU32(dst, p.SpecVersion) }
	extTxVersion   = func(dst []byte, p *TxParams) []byte { return AppendU32(dst, p.TxVersion) }
	extGenesis     = func(dst []byte, p *TxParams) []byte { return AppendFixed32(dst, p.Genesis) }
	extEra         = func(dst []byte, p *TxParams) []byte { return AppendEra(dst, p.Era) }
	extEraBlock    = func(dst []byte, p *TxParams) []byte { return AppendFixed32(dst, p.EraBlock) }
	extNonce       = func(dst []byte, p *TxParams) []byte { return AppendCompact(dst, p.Nonce) }
	extTip         = func(dst []byte, p *TxParams) []byte { return AppendCompact(dst, p.Tip) }
	// CheckMetadataHash with mode Disabled (0): the runtime then signs
	// Option<[u8;32]>::None. Enabling it would need the metadata hash
	// (RFC 78), which we do not compute.
	extMetadataMode = func(dst []byte, _ *TxParams) []byte { return append(dst, 0) }
	extMetadataHash = func(dst []byte, _ *TxParams) []byte { return append(dst, 0) }
)

// knownExtensions maps an extension identifier to its encoders. Every
// zero-sized entry was checked in source to carry no data: subtensor's
// SudoTransactionExtension, CheckShieldedTxValidity,
// SubtensorTransactionExtension and DrandPriority are PhantomData tuples
// with Implicit = ().
var knownExtensions = map[string]Extension{
	"CheckNonZeroSender":              {},
	"CheckSpecVersion":                {Implicit: extSpecVersion},
	"CheckTxVersion":                  {Implicit: extTxVersion},
	"CheckGenesis":                    {Implicit: extGenesis},
	"CheckMortality":                  {Extra: extEra, Implicit: extEraBlock},
	"CheckEra":                        {Extra: extEra, Implicit: extEraBlock}, // CheckMortality's old name
	"CheckNonce":                      {Extra: extNonce},
	"CheckWeight":                     {},
	"ChargeTransactionPayment":        {Extra: extTip},
	"ChargeTransactionPaymentWrapper": {Extra: extTip},
	"SudoTransactionExtension":        {},
	"CheckShieldedTxValidity":         {},
	"SubtensorTransactionExtension":   {},
	"DrandPriority":                   {},
	"CheckMetadataHash":               {Extra: extMetadataMode, Implicit: extMetadataHash},
}

// SubtensorExtensionNames returns the transaction-extension tuple of the subtensor
// runtime, in order: TxExtension = (SystemTxExtension, CustomTxExtension,
// CheckMetadataHash) in runtime/src/lib.rs (opentensor/subtensor at
// 14bc6f9f, 2026-06-30, spec_version 425). Nested tuples encode flat, so
// this flat list is also what the metadata's signed_extensions shows.
// It returns a fresh slice, so no caller can change the tuple the others
// sign with.
func SubtensorExtensionNames() []string {
	return []string{
		"CheckNonZeroSender",
		"CheckSpecVersion",
		"CheckTxVersion",
		"CheckGenesis",
		"CheckMortality",
		"CheckNonce",
		"CheckWeight",
		"ChargeTransactionPaymentWrapper",
		"SudoTransactionExtension",
		"CheckShieldedTxValidity",
		"SubtensorTransactionExtension",
		"DrandPriority",
		"CheckMetadataHash",
	}
}

// UnsupportedExtensionsError reports runtime extensions we have no encoder
// for. Signing anyway would produce an extrinsic the node cannot decode or
// whose signature does not verify, so callers must stop: this is the
// failure GSRPC reports as "signed extension … not supported" (issue 418),
// made explicit.
type UnsupportedExtensionsError struct {
	Unknown []string // identifiers without an encoder
	All     []string // the full list asked for, in order
}

func (e *UnsupportedExtensionsError) Error() string {
	return fmt.Sprintf("chain: no encoder for transaction extension(s) %s (runtime list: %s); give each an Extension encoder (Options.ExtraExtensions)",
		strings.Join(e.Unknown, ", "), strings.Join(e.All, ", "))
}

// ExtensionsFor returns the encoders for the named extensions, in the
// order given, or an *UnsupportedExtensionsError naming every unknown one.
// extra adds or overrides encoders by name (nil: only the built-in ones).
func ExtensionsFor(names []string, extra ...Extension) ([]Extension, error) {
	var unknown []string
	out := make([]Extension, 0, len(names))
outer:
	for _, n := range names {
		for _, x := range extra {
			if x.Name == n {
				out = append(out, x)
				continue outer
			}
		}
		x, ok := knownExtensions[n]
		if !ok {
			unknown = append(unknown, n)
			continue
		}
		x.Name = n
		out = append(out, x)
	}
	if unknown != nil {
		return nil, &UnsupportedExtensionsError{Unknown: unknown, All: slices.Clone(names)}
	}
	return out, nil
}

// SubtensorExtensions returns the encoders of SubtensorExtensionNames, a
// fresh slice the caller may modify.
func SubtensorExtensions() []Extension {
	exts, err := ExtensionsFor(SubtensorExtensionNames())
	if err != nil {
		// Unreachable from input: the names are a constant list, each
		// with a built-in encoder in knownExtensions (TestExtensionsFor).
		panic(err)
	}
	return exts
}

// ExtensionNames returns the names of exts, in order.
func ExtensionNames(exts []Extension) []string {
	names := make([]string, len(exts))
	for i, x := range exts {
		names[i] = x.Name
	}
	return names
}

// AppendExtra appends the extensions' extrinsic-carried bytes, in order.
func AppendExtra(dst []byte, exts []Extension, p *TxParams) []byte {
	for _, x := range exts {
		if x.Extra != nil {
			dst = x.Extra(dst, p)
		}
	}
	return dst
}

// AppendImplicit appends the extensions' signed-only bytes, in order.
func AppendImplicit(dst []byte, exts []Extension, p *TxParams) []byte {
	for _, x := range exts {
		if x.Implicit != nil {
			dst = x.Implicit(dst, p)
		}
	}
	return dst
}

// SigningPayload returns call ‖ extra ‖ implicit, the bytes a v4 signed
// extrinsic's signature covers (before SignatureMessage's hashing).
func SigningPayload(call []byte, exts []Extension, p *TxParams) []byte {
	b := append([]byte(nil), call...)
	b = AppendExtra(b, exts, p)
	return AppendImplicit(b, exts, p)
}

// maxUnhashedPayload is the payload length above which Substrate signs
// blake2_256(payload) instead of the payload itself (SignedPayload::
// using_encoded).
const maxUnhashedPayload = 256

// SignatureMessage returns what is actually signed for a signing payload:
// the payload itself, or its blake2b-256 hash when it is longer than 256
// bytes.
func SignatureMessage(payload []byte) []byte {
	if len(payload) > maxUnhashedPayload {
		h := blake2b.Sum256(payload)
		return h[:]
	}
	return payload
}

// Extrinsic format bytes (sp_runtime::generic::UncheckedExtrinsic v4).
const (
	extrinsicV4Signed  = 0x84 // version 4 with the "signed" bit
	multiAddressID     = 0x00 // MultiAddress::Id(AccountId32)
	multiSigSr25519    = 0x01 // MultiSignature::Sr25519
	signedHeaderLength = 1 + 1 + 32 + 1 + hotkey.SignatureSize
)

// SignedExtrinsic signs call with s and returns the encoded v4 extrinsic,
// compact length prefix included, ready for author_submitExtrinsic:
// 0x84 ‖ MultiAddress::Id(pub) ‖ MultiSignature::Sr25519(sig) ‖ extra ‖ call.
func SignedExtrinsic(s *hotkey.Signer, call []byte, exts []Extension, p *TxParams) ([]byte, error) {
	if err := p.Era.Check(); err != nil {
		return nil, fmt.Errorf("chain: sign extrinsic: %w", err)
	}
	if p.Era.IsImmortal() && p.EraBlock != p.Genesis {
		return nil, errors.New("chain: sign extrinsic: an immortal era signs the genesis hash; EraBlock differs")
	}
	if len(call) < 2 {
		return nil, fmt.Errorf("chain: sign extrinsic: call of %d bytes lacks pallet and call index", len(call))
	}
	sig, err := s.Sign(SignatureMessage(SigningPayload(call, exts, p)))
	if err != nil {
		return nil, fmt.Errorf("chain: sign extrinsic: %w", err)
	}
	body := make([]byte, 0, signedHeaderLength+16+len(call))
	body = append(body, extrinsicV4Signed, multiAddressID)
	body = AppendFixed32(body, s.PublicKey())
	body = append(body, multiSigSr25519)
	body = append(body, sig...)
	body = AppendExtra(body, exts, p)
	body = append(body, call...)
	return AppendBytes(make([]byte, 0, len(body)+5), body), nil
}

// TxHash is a transaction hash: blake2b-256 of the encoded extrinsic, what
// author_submitExtrinsic returns.
type TxHash [32]byte

// String returns the hash as 0x-prefixed hex, as the node writes it.
func (h TxHash) String() string { return "0x" + hex.EncodeToString(h[:]) }

// ExtrinsicHash returns the hash the node reports for an encoded extrinsic.
func ExtrinsicHash(ext []byte) TxHash { return blake2b.Sum256(ext) }
