// Package hotkey is Agora's Bittensor-compatible identity: sr25519
// (schnorrkel) keys with the signing context "substrate", SS58 addresses
// with prefix 42, Bittensor wallet hotkey files and Epistula v2 request
// signatures. Every command uses it the same way: the coordinator verifies,
// validators and miners sign.
//
// A key is loaded once into a *Signer. The Signer keeps the secret to itself
// and only offers "sign this", so no caller can leak it into a log, a
// response or a config dump. Verification needs only an SS58 address.
//
// Signatures interoperate with the Python stack (bittensor-wallet,
// substrate-interface) and polkadot-js: messages are signed as raw bytes,
// never hashed first (unlike GSRPC's signature package, which blake2-hashes
// messages over 256 bytes), and verification also accepts the
// "<Bytes>…</Bytes>" wrapping that browser wallet extensions add.
package hotkey

import (
	"crypto/sha512"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ChainSafe/go-schnorrkel"
	"github.com/cosmos/go-bip39"
)

// SigningContext is the schnorrkel signing context of every Substrate
// signature. Python, Rust and polkadot-js all use it; a signature made under
// any other context verifies nowhere else.
const SigningContext = "substrate"

// SignatureSize is the length of an sr25519 signature in bytes.
const SignatureSize = 64

// Signer holds an sr25519 secret key and signs with it. It never returns the
// secret: the only ways out are signatures and, on explicit request,
// WriteWalletFile. The secret sits behind an unexported pointer, so even
// fmt's struct printing (%+v, %d, …) shows an address, not key bytes; and
// String, GoString and LogValue print the SS58 address.
//
// Create a Signer with FromURI, FromMnemonic, FromSeed, Generate or
// ReadWalletFile; the zero value cannot sign. A Signer is safe for
// concurrent use.
type Signer struct {
	addr string
	pub  [32]byte
	sec  *secret
}

// secret is everything a Signer must not reveal.
type secret struct {
	sk *schnorrkel.SecretKey

	// The rest exists so WriteWalletFile can write the fields
	// bittensor-wallet writes, and so soft derivation can pick a nonce.
	key   [32]byte  // canonical secret scalar
	nonce [32]byte  // schnorrkel signing nonce seed
	seed  *[32]byte // mini-secret; nil when unknown (after a soft derivation)
	// phrase is the mnemonic only when it alone reproduces the key (no
	// derivation path, no password), because a wallet file's secretPhrase
	// is loaded without either.
	phrase string
}

// newSigner builds a Signer from a canonical secret scalar and nonce. It
// fails if the scalar is not canonical, which is how a 64-byte private key
// in the wrong encoding is caught.
func newSigner(key, nonce [32]byte) (*Signer, error) {
	sk := schnorrkel.NewSecretKey(key, nonce)
	pub, err := sk.Public()
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	s := &Signer{pub: pub.Encode(), sec: &secret{sk: sk, key: key, nonce: nonce}}
	if s.pub == ([32]byte{}) {
		// A zero scalar: its public key is the identity, which every
		// verifier refuses, so it could sign but never be believed.
		return nil, errors.New("secret key is zero")
	}
	s.addr = SS58Encode(s.pub)
	return s, nil
}

// newSignerFromMini expands a 32-byte mini-secret the way Substrate does
// (ExpansionMode::Ed25519), so the key matches Python, Rust and polkadot-js.
func newSignerFromMini(mini [32]byte) (*Signer, error) {
	ms, err := schnorrkel.NewMiniSecretKeyFromRaw(mini)
	if err != nil {
		return nil, err
	}
	// The expanded nonce is the upper half of SHA-512(mini); go-schnorrkel
	// keeps it private, so recompute it for the wallet file's privateKey.
	h := sha512.Sum512(mini[:])
	var nonce [32]byte
	copy(nonce[:], h[32:])
	s, err := newSigner(ms.ExpandEd25519().Encode(), nonce)
	if err != nil {
		return nil, err
	}
	seed := mini
	s.sec.seed = &seed
	return s, nil
}

// FromSeed returns the Signer for a 32-byte mini-secret, the value
// bittensor-wallet stores as secretSeed.
func FromSeed(seed [32]byte) (*Signer, error) {
	return newSignerFromMini(seed)
}

// FromMnemonic returns the Signer for a BIP39 mnemonic and optional
// password, derived the Substrate way (the mini-secret is the first 32 bytes
// of PBKDF2 over the mnemonic's entropy, not over its words). Whitespace
// between words is normalised; the checksum is checked.
func FromMnemonic(mnemonic, password string) (*Signer, error) {
	phrase, err := normaliseMnemonic(mnemonic)
	if err != nil {
		return nil, err
	}
	ms, err := schnorrkel.MiniSecretKeyFromMnemonic(phrase, password)
	if err != nil {
		return nil, fmt.Errorf("mnemonic: %w", err)
	}
	s, err := newSignerFromMini(ms.Encode())
	if err != nil {
		return nil, err
	}
	if password == "" {
		s.sec.phrase = phrase
	}
	return s, nil
}

// Generate creates a key from a fresh mnemonic of the given number of words
// (12, 15, 18, 21 or 24; Bittensor's btcli defaults to 12). It returns the
// mnemonic once, for the user to write down; the Signer will not give it
// back later.
func Generate(words int) (s *Signer, mnemonic string, err error) {
	if words < 12 || words > 24 || words%3 != 0 {
		return nil, "", fmt.Errorf("mnemonic length %d: want 12, 15, 18, 21 or 24 words", words)
	}
	entropy, err := bip39.NewEntropy(words * 32 / 3)
	if err != nil {
		return nil, "", fmt.Errorf("mnemonic entropy: %w", err)
	}
	mnemonic, err = bip39.NewMnemonic(entropy)
	if err != nil {
		return nil, "", fmt.Errorf("mnemonic: %w", err)
	}
	s, err = FromMnemonic(mnemonic, "")
	if err != nil {
		return nil, "", err
	}
	return s, mnemonic, nil
}

// Address returns the key's SS58 address (prefix 42), the hotkey as
// Bittensor shows it.
func (s *Signer) Address() string { return s.addr }

// PublicKey returns the 32-byte sr25519 public key (the AccountId).
func (s *Signer) PublicKey() [32]byte { return s.pub }

// Sign returns a 64-byte sr25519 signature over msg, made over the raw bytes
// with the context "substrate". Signatures are randomised: signing the same
// message twice gives different bytes, and both verify.
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	if s == nil || s.sec == nil {
		return nil, errors.New("sr25519 sign: Signer holds no key")
	}
	sig, err := s.sec.sk.Sign(schnorrkel.NewSigningContext([]byte(SigningContext), msg))
	if err != nil {
		return nil, fmt.Errorf("sr25519 sign: %w", err)
	}
	b := sig.Encode()
	return b[:], nil
}

// String returns the address, so %v and %s of a Signer show who it is.
func (s *Signer) String() string { return s.addr }

// GoString returns the address for %#v, for the same reason as String.
func (s *Signer) GoString() string { return "hotkey.Signer(" + s.addr + ")" }

// LogValue makes slog record the address only.
func (s *Signer) LogValue() slog.Value { return slog.StringValue(s.addr) }

var _ slog.LogValuer = (*Signer)(nil)

// ErrEncrypted is returned for a wallet file that is encrypted ($NACL,
// Ansible Vault or the legacy Fernet format). Agora does not decrypt: hotkey
// files are plain by Bittensor's default, and a node that signs unattended
// has no one to type a password.
var ErrEncrypted = errors.New("key file is encrypted")

// ErrKeyMismatch is returned when a wallet file's fields disagree, for
// example an ss58Address that is not the address of the key derived from
// its secretPhrase. Such a file is corrupt or was edited by hand; signing
// with it would sign as someone other than the user expects.
var ErrKeyMismatch = errors.New("fields disagree about the key")
