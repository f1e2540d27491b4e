package hotkey

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/decred/base58"
	"golang.org/x/crypto/blake2b"
)

// SS58Prefix is the SS58 network prefix of Bittensor (and of generic
// Substrate): addresses start with "5".
const SS58Prefix = 42

// Errors SS58Decode wraps, so callers can tell a typo (ErrChecksum) from an
// address of another chain (ErrPrefix).
var (
	ErrBase58        = errors.New("not base58")
	ErrAddressLength = errors.New("wrong length for a 32-byte account")
	ErrChecksum      = errors.New("bad checksum")
	ErrPrefix        = errors.New("wrong network prefix")
)

// maxAddressLen is longer than any SS58 address of a 32-byte key (at most 50
// characters). Longer input is refused before the quadratic base58 decode.
const maxAddressLen = 64

// SS58Encode returns the SS58 address (prefix 42) of a 32-byte public key.
func SS58Encode(pub [32]byte) string {
	b := make([]byte, 0, 35)
	b = append(b, SS58Prefix)
	b = append(b, pub[:]...)
	sum := ss58Checksum(b)
	return base58.Encode(append(b, sum[:2]...))
}

// SS58Decode returns the public key in a prefix-42 SS58 address. It checks,
// in order, the base58 alphabet, the length, the checksum and the prefix,
// and wraps ErrBase58, ErrAddressLength, ErrChecksum or ErrPrefix; the
// message quotes the address so logs show what was sent.
func SS58Decode(address string) ([32]byte, error) {
	var pub [32]byte
	if len(address) > maxAddressLen {
		return pub, fmt.Errorf("ss58 address of %d characters: %w", len(address), ErrAddressLength)
	}
	if address == "" {
		return pub, fmt.Errorf("ss58 address is empty: %w", ErrAddressLength)
	}
	data := base58.Decode(address)
	if len(data) == 0 {
		return pub, fmt.Errorf("ss58 address %q: %w", address, ErrBase58)
	}

	// A first byte below 64 is a one-byte prefix; 64..127 starts a two-byte
	// one (decoded only to name it in the error); 128 and up is reserved.
	var prefixLen int
	var prefix uint16
	switch b := data[0]; {
	case b < 64:
		prefixLen, prefix = 1, uint16(b)
	case b < 128 && len(data) >= 2:
		prefixLen = 2
		prefix = uint16(b&0x3f)<<2 | uint16(data[1]>>6) | uint16(data[1]&0x3f)<<8
	default:
		return pub, fmt.Errorf("ss58 address %q: reserved prefix byte %d: %w", address, b, ErrPrefix)
	}
	if len(data) != prefixLen+32+2 {
		return pub, fmt.Errorf("ss58 address %q decodes to %d bytes, want %d: %w",
			address, len(data), prefixLen+32+2, ErrAddressLength)
	}
	body, sum := data[:len(data)-2], data[len(data)-2:]
	if want := ss58Checksum(body); !bytes.Equal(sum, want[:2]) {
		return pub, fmt.Errorf("ss58 address %q: %w", address, ErrChecksum)
	}
	if prefix != SS58Prefix {
		return pub, fmt.Errorf("ss58 address %q has prefix %d, want %d: %w", address, prefix, SS58Prefix, ErrPrefix)
	}
	copy(pub[:], body[prefixLen:])
	return pub, nil
}

// ss58Checksum is blake2b-512 over "SS58PRE" and the prefixed key; the
// first two bytes are the checksum of a 32-byte account.
func ss58Checksum(body []byte) [64]byte {
	h, _ := blake2b.New512(nil)
	h.Write([]byte("SS58PRE"))
	h.Write(body)
	var out [64]byte
	h.Sum(out[:0])
	return out
}
