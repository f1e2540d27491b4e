package hotkey

import (
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/ChainSafe/go-schnorrkel"
	"github.com/cosmos/go-bip39"
	"golang.org/x/crypto/blake2b"
)

// DevPhrase is Substrate's well-known development mnemonic. A URI that
// starts with a derivation path, such as "//Alice", is derived from it.
// Keys from it are public knowledge: use them in tests and local nets only.
const DevPhrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"

// uriRE splits a secret URI into phrase, path and password exactly as
// Substrate's SecretUri does.
var uriRE = regexp.MustCompile(`^([\d\w ]+)?((?://?[^/]+)*)(///(.*))?$`)

// junctionRE splits a derivation path into junctions; a leading extra "/"
// marks a hard one.
var junctionRE = regexp.MustCompile(`/(/?[^/]+)`)

// maxURILen bounds the input so a hostile config cannot make derivation
// spin; real URIs are a mnemonic plus a short path.
const maxURILen = 4096

// FromURI returns the Signer for a Substrate secret URI, the form the
// Python SDK's Keypair.create_from_uri and polkadot-js keyring.addFromUri
// take:
//
//	<mnemonic>[//hard][/soft]…[///password]
//	0x<64 hex digits>[//hard][/soft]…     a 32-byte mini-secret (secretSeed)
//	//Alice                               a path alone means DevPhrase
//
// The password applies to a mnemonic only; Substrate ignores it for hex
// seeds and so does FromURI. An empty URI is an error rather than the dev
// root key, so a missing setting cannot quietly become a public key.
func FromURI(uri string) (*Signer, error) {
	if strings.TrimSpace(uri) == "" {
		return nil, errors.New("key uri is empty")
	}
	if len(uri) > maxURILen {
		return nil, fmt.Errorf("key uri is %d bytes, limit %d", len(uri), maxURILen)
	}
	m := uriRE.FindStringSubmatch(uri)
	if m == nil {
		return nil, errors.New("key uri: not <phrase>[//hard][/soft][///password] or 0x<seed>[//path]")
	}
	phrase, path, password := m[1], m[2], m[4]
	if strings.TrimSpace(phrase) == "" {
		phrase = DevPhrase
	}

	var s *Signer
	var err error
	if h, ok := strings.CutPrefix(strings.TrimSpace(phrase), "0x"); ok {
		s, err = fromHexSeed(h)
	} else {
		s, err = FromMnemonic(phrase, password)
		if err != nil && isHex(strings.TrimSpace(phrase)) {
			// A bare hex seed is the likeliest mistake; say so instead of
			// reporting an unknown mnemonic word.
			err = errors.New("key uri: a hex seed needs the 0x prefix")
		}
	}
	if err != nil {
		return nil, err
	}

	for _, j := range junctionRE.FindAllStringSubmatch(path, -1) {
		if s, err = s.derive(j[1]); err != nil {
			return nil, fmt.Errorf("key uri: derive %q: %w", j[1], err)
		}
	}
	if path != "" || password != "" {
		// The mnemonic alone no longer reproduces this key.
		s.sec.phrase = ""
	}
	return s, nil
}

// fromHexSeed decodes a mini-secret given as hex without its 0x prefix.
func fromHexSeed(h string) (*Signer, error) {
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("hex seed: %w", err)
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("hex seed is %d bytes, want a 32-byte mini-secret", len(b))
	}
	return FromSeed([32]byte(b))
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && len(s) > 0
}

// normaliseMnemonic joins the words with single spaces and checks them
// against the English BIP39 list and checksum, which is what Substrate
// accepts.
func normaliseMnemonic(mnemonic string) (string, error) {
	phrase := strings.Join(strings.Fields(mnemonic), " ")
	if phrase == "" {
		return "", errors.New("mnemonic is empty")
	}
	if _, err := bip39.MnemonicToByteArray(phrase); err != nil {
		// Do not echo the phrase: it may be almost right, and it is secret.
		return "", fmt.Errorf("mnemonic of %d words is not valid BIP39 (unknown word or bad checksum)", len(strings.Fields(phrase)))
	}
	return phrase, nil
}

// derive applies one junction of a derivation path: "/name" hard, "name"
// soft (the caller passes it without the separating slash).
func (s *Signer) derive(junction string) (*Signer, error) {
	code, hard := strings.CutPrefix(junction, "/")
	cc := chainCode(code)
	if hard {
		// Hard derivation yields a new mini-secret, expanded as usual, so
		// the result can still be saved as a secretSeed.
		ms, _, err := s.sec.sk.HardDeriveMiniSecretKey(nil, cc)
		if err != nil {
			return nil, err
		}
		return newSignerFromMini(ms.Encode())
	}
	ek, err := schnorrkel.DeriveKeySimple(s.sec.sk, nil, cc)
	if err != nil {
		return nil, err
	}
	sk, err := ek.Secret()
	if err != nil {
		return nil, err
	}
	key := sk.Encode()
	// Rust schnorrkel draws a soft-derived key's nonce at random and
	// go-schnorrkel does too, but hides it. The nonce only seeds signing
	// randomness, so derive it from the parent's secret nonce instead:
	// the same URI then gives the same wallet file every time.
	h := sha512.New()
	h.Write([]byte("agora hotkey soft nonce"))
	h.Write(s.sec.nonce[:])
	h.Write(cc[:])
	var nonce [32]byte
	copy(nonce[:], h.Sum(nil))
	return newSigner(key, nonce)
}

// chainCode encodes a junction the way Substrate's DeriveJunction does: a
// decimal number as a little-endian u64, anything else as a SCALE string
// (compact length, then bytes), hashed with blake2b-256 when longer than 32
// bytes, and zero-padded to 32.
func chainCode(code string) [32]byte {
	var b []byte
	if n, err := strconv.ParseUint(code, 10, 64); err == nil {
		b = binary.LittleEndian.AppendUint64(nil, n)
	} else {
		b = append(compactLen(len(code)), code...)
	}
	var cc [32]byte
	if len(b) > 32 {
		cc = blake2b.Sum256(b)
	} else {
		copy(cc[:], b)
	}
	return cc
}

// compactLen is SCALE's compact encoding of a length. maxURILen keeps
// lengths below 2^30, so the big-integer mode is never needed.
func compactLen(n int) []byte {
	switch {
	case n < 1<<6:
		return []byte{byte(n << 2)}
	case n < 1<<14:
		return binary.LittleEndian.AppendUint16(nil, uint16(n<<2|1))
	default:
		return binary.LittleEndian.AppendUint32(nil, uint32(n<<2|2))
	}
}
