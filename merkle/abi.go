package merkle

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/agoranet/agora/internal/clip"
)

// kind is the ABI category of a leaf field.
type kind uint8

const (
	kindUint kind = iota + 1
	kindInt
	kindAddress
	kindBool
	kindFixedBytes
	kindString
	kindBytes
)

// abiType is one parsed entry of a leaf encoding.
type abiType struct {
	name string // as given, e.g. "uint256"
	kind kind
	size int // bits for kindUint/kindInt, bytes for kindFixedBytes
}

func (t abiType) dynamic() bool { return t.kind == kindString || t.kind == kindBytes }

// parseType parses one Solidity type name. Arrays and tuples are not
// supported.
func parseType(s string) (abiType, error) {
	t := abiType{name: s}
	switch {
	case s == "address":
		t.kind = kindAddress
	case s == "bool":
		t.kind = kindBool
	case s == "string":
		t.kind = kindString
	case s == "bytes":
		t.kind = kindBytes
	case strings.HasPrefix(s, "uint"), strings.HasPrefix(s, "int"):
		t.kind, t.size = kindUint, 256
		rest := strings.TrimPrefix(s, "uint")
		if strings.HasPrefix(s, "int") {
			t.kind, rest = kindInt, strings.TrimPrefix(s, "int")
		}
		if rest != "" {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 8 || n > 256 || n%8 != 0 || rest[0] == '0' {
				return t, fmt.Errorf("unknown type %q (integer width must be a multiple of 8 from 8 to 256)", s)
			}
			t.size = n
		}
	case strings.HasPrefix(s, "bytes"):
		rest := strings.TrimPrefix(s, "bytes")
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 || n > 32 || rest[0] == '0' {
			return t, fmt.Errorf("unknown type %q (fixed bytes length must be 1 to 32)", s)
		}
		t.kind, t.size = kindFixedBytes, n
	default:
		return t, fmt.Errorf("unknown type %q", s)
	}
	return t, nil
}

// parseTypes parses a leaf encoding.
func parseTypes(types []string) ([]abiType, error) {
	if len(types) == 0 {
		return nil, errors.New("merkle: leaf encoding has no types")
	}
	out := make([]abiType, len(types))
	for i, s := range types {
		t, err := parseType(s)
		if err != nil {
			return nil, fmt.Errorf("merkle: leaf encoding type %d: %w", i, err)
		}
		out[i] = t
	}
	return out, nil
}

// ValueError reports a leaf value that cannot be ABI-encoded.
type ValueError struct {
	Index int    // value index in the input (-1 when not part of a tree)
	Field int    // position within the value
	Type  string // the field's Solidity type
	Value string // the offending text
	Err   error
}

func (e *ValueError) Error() string {
	v := clip.String(e.Value, 80)
	if e.Index < 0 {
		return fmt.Sprintf("merkle: field %d (%s) %q: %v", e.Field, e.Type, v, e.Err)
	}
	return fmt.Sprintf("merkle: value %d, field %d (%s) %q: %v", e.Index, e.Field, e.Type, v, e.Err)
}

func (e *ValueError) Unwrap() error { return e.Err }

// appendEncode appends abi.encode(types, value) (the standard, not
// packed, encoding of a tuple of the fields) to dst.
func appendEncode(dst []byte, types []abiType, value []string) ([]byte, error) {
	if len(value) != len(types) {
		return nil, fmt.Errorf("has %d fields, the leaf encoding has %d", len(value), len(types))
	}
	// The head of fixed-size slots comes first; dynamic fields append
	// their data after it and point at it with an offset from start.
	start, headLen := len(dst), 32*len(types)
	dst = append(dst, make([]byte, headLen)...)
	for i, t := range types {
		slot := dst[start+32*i : start+32*i+32]
		s := value[i]
		fail := func(err error) error {
			return &ValueError{Index: -1, Field: i, Type: t.name, Value: s, Err: err}
		}
		switch t.kind {
		case kindUint, kindInt:
			if err := encodeInt(slot, t, s); err != nil {
				return nil, fail(err)
			}
		case kindBool:
			switch s {
			case "true":
				slot[31] = 1
			case "false":
			default:
				return nil, fail(errors.New(`bool must be "true" or "false"`))
			}
		case kindAddress:
			if decodeHexInto(slot[12:], s) {
				continue
			}
			b, err := decodeHex(s)
			if err != nil {
				return nil, fail(err)
			}
			if len(b) != 20 {
				return nil, fail(fmt.Errorf("address must be 20 bytes, got %d", len(b)))
			}
			copy(slot[12:], b)
		case kindFixedBytes:
			if decodeHexInto(slot[:t.size], s) {
				continue
			}
			b, err := decodeHex(s)
			if err != nil {
				return nil, fail(err)
			}
			if len(b) != t.size {
				return nil, fail(fmt.Errorf("%s must be %d bytes, got %d", t.name, t.size, len(b)))
			}
			copy(slot, b)
		case kindString, kindBytes:
			var b []byte
			if t.kind == kindString {
				if !utf8.ValidString(s) {
					return nil, fail(errors.New("string is not valid UTF-8"))
				}
				b = []byte(s)
			} else {
				var err error
				if b, err = decodeHex(s); err != nil {
					return nil, fail(err)
				}
			}
			putUint(slot, uint64(len(dst)-start))
			var n [32]byte
			putUint(n[:], uint64(len(b)))
			dst = append(dst, n[:]...)
			dst = append(dst, b...)
			if r := len(b) % 32; r != 0 {
				dst = append(dst, make([]byte, 32-r)...)
			}
		}
	}
	return dst, nil
}

func putUint(slot []byte, v uint64) {
	for i := 0; i < 8; i++ {
		slot[31-i] = byte(v >> (8 * i))
	}
}

// decodeHexInto decodes s, 0x and exactly 2*len(dst) hex digits, into
// dst without allocating. It reports false, with dst unspecified, for
// anything else, which decodeHex then explains.
func decodeHexInto(dst []byte, s string) bool {
	if len(s) != 2+2*len(dst) || s[0] != '0' || s[1] != 'x' {
		return false
	}
	for i := range dst {
		hi, lo := unhex(s[2+2*i]), unhex(s[3+2*i])
		if hi > 0xf || lo > 0xf {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// unhex returns the value of a hex digit, or 0xff.
func unhex(c byte) byte { return hexValues[c] }

var hexValues = func() (t [256]byte) {
	for c := range t {
		switch {
		case '0' <= c && c <= '9':
			t[c] = byte(c - '0')
		case 'a' <= c && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			t[c] = byte(c - 'A' + 10)
		default:
			t[c] = 0xff
		}
	}
	return t
}()

// decodeHex decodes 0x-prefixed hex with an even number of digits.
func decodeHex(s string) ([]byte, error) {
	if !strings.HasPrefix(s, "0x") {
		return nil, errors.New("hex must start with 0x")
	}
	h := s[2:]
	if len(h)%2 != 0 {
		return nil, errors.New("hex has an odd number of digits")
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, errors.New("bad hex digit")
	}
	return b, nil
}

var (
	two256 = new(big.Int).Lsh(big.NewInt(1), 256)
)

// encodeInt writes a uintN/intN value given as decimal (with an optional
// leading '-' for intN) or 0x-hex, as a 32-byte big-endian two's
// complement word.
func encodeInt(slot []byte, t abiType, s string) error {
	// Fast path for the common case, a decimal uint that fits: no
	// big.Int. Anything else, errors included, takes the general path.
	if t.kind == kindUint && s != "" && isDigits(s, false) {
		if w, ok := parseDecimal256(s); ok && bitLen256(w) <= t.size {
			for i, limb := range w {
				binary.BigEndian.PutUint64(slot[24-8*i:], limb)
			}
			return nil
		}
	}
	neg := false
	digits := s
	if t.kind == kindInt && strings.HasPrefix(digits, "-") {
		neg, digits = true, digits[1:]
	}
	var v big.Int
	switch {
	case strings.HasPrefix(digits, "0x"):
		h := digits[2:]
		if h == "" || !isDigits(h, true) {
			return errors.New("bad hex number")
		}
		v.SetString(h, 16)
	case digits == "":
		return errors.New("empty number")
	case isDigits(digits, false):
		v.SetString(digits, 10)
	default:
		return errors.New("not a decimal or 0x-hex number")
	}
	if neg {
		v.Neg(&v)
	}
	if t.kind == kindUint {
		if v.BitLen() > t.size {
			return fmt.Errorf("overflows %s", t.name)
		}
		v.FillBytes(slot)
		return nil
	}
	// intN: -2^(N-1) <= v < 2^(N-1).
	limit := new(big.Int).Lsh(big.NewInt(1), uint(t.size-1))
	if v.Cmp(limit) >= 0 || v.Cmp(new(big.Int).Neg(limit)) < 0 {
		return fmt.Errorf("overflows %s", t.name)
	}
	if v.Sign() < 0 {
		v.Add(&v, two256)
	}
	v.FillBytes(slot)
	return nil
}

// pow10 holds 10^0 to 10^19.
var pow10 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// parseDecimal256 parses decimal digits (checked by the caller) into a
// 256-bit word, least significant limb first, and reports false if the
// number does not fit. It takes 19 digits at a time.
func parseDecimal256(s string) (w [4]uint64, ok bool) {
	for s != "" {
		k := min(len(s), 19)
		var chunk uint64
		for i := range k {
			chunk = chunk*10 + uint64(s[i]-'0')
		}
		s = s[k:]
		carry := chunk
		for j := range w {
			hi, lo := bits.Mul64(w[j], pow10[k])
			var c uint64
			w[j], c = bits.Add64(lo, carry, 0)
			carry = hi + c
		}
		if carry != 0 {
			return w, false
		}
	}
	return w, true
}

// bitLen256 is the bit length of a 256-bit word.
func bitLen256(w [4]uint64) int {
	for j := 3; j >= 0; j-- {
		if w[j] != 0 {
			return 64*j + bits.Len64(w[j])
		}
	}
	return 0
}

func isDigits(s string, hexDigits bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
		case hexDigits && ('a' <= c && c <= 'f' || 'A' <= c && c <= 'F'):
		default:
			return false
		}
	}
	return true
}
