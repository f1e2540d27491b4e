package chain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
)

// Compact-integer mode boundaries (SCALE spec): values below MaxCompactSingle
// take one byte, below MaxCompactTwo two bytes, below MaxCompactFour four
// bytes; anything larger uses the big-integer mode.
const (
	MaxCompactSingle = 1<<6 - 1  // 63
	MaxCompactTwo    = 1<<14 - 1 // 16383
	MaxCompactFour   = 1<<30 - 1 // 1073741823
)

// maxCompactBigBytes is the longest payload the big-integer mode can carry:
// the upper six bits of the prefix hold len-4, so len is at most 63+4.
const maxCompactBigBytes = 67

// Errors DecodeCompact and DecodeCompactBig wrap.
var (
	ErrShortInput   = errors.New("scale: input too short")
	ErrNonCanonical = errors.New("scale: non-canonical compact encoding")
	ErrOverflow     = errors.New("scale: compact value overflows uint64")
)

// AppendCompact appends the SCALE compact encoding of v to dst.
func AppendCompact(dst []byte, v uint64) []byte {
	switch {
	case v <= MaxCompactSingle:
		return append(dst, byte(v<<2))
	case v <= MaxCompactTwo:
		return binary.LittleEndian.AppendUint16(dst, uint16(v<<2)|0b01)
	case v <= MaxCompactFour:
		return binary.LittleEndian.AppendUint32(dst, uint32(v<<2)|0b10)
	}
	n := 8
	for v>>(8*(n-1)) == 0 {
		n--
	}
	dst = append(dst, byte((n-4)<<2)|0b11)
	for i := 0; i < n; i++ {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// AppendCompactBig appends the SCALE compact encoding of v to dst, for values
// wider than 64 bits (u128 balances, for example). It fails if v is negative
// or needs more than 67 bytes.
func AppendCompactBig(dst []byte, v *big.Int) ([]byte, error) {
	if v.Sign() < 0 {
		return dst, fmt.Errorf("scale: negative compact value %s", v)
	}
	if v.IsUint64() {
		return AppendCompact(dst, v.Uint64()), nil
	}
	be := v.Bytes() // big-endian, minimal, at least 9 bytes here
	if len(be) > maxCompactBigBytes {
		return dst, fmt.Errorf("scale: compact value needs %d bytes, max %d", len(be), maxCompactBigBytes)
	}
	dst = append(dst, byte((len(be)-4)<<2)|0b11)
	for i := len(be) - 1; i >= 0; i-- {
		dst = append(dst, be[i])
	}
	return dst, nil
}

// DecodeCompact decodes a SCALE compact integer from the start of b and
// returns it with the number of bytes read. Like parity-scale-codec it
// rejects encodings that are not the shortest form (ErrNonCanonical), and it
// returns ErrOverflow for values that do not fit in a uint64.
func DecodeCompact(b []byte) (v uint64, n int, err error) {
	if len(b) == 0 {
		return 0, 0, ErrShortInput
	}
	switch b[0] & 0b11 {
	case 0b00:
		return uint64(b[0] >> 2), 1, nil
	case 0b01:
		if len(b) < 2 {
			return 0, 0, ErrShortInput
		}
		v = uint64(binary.LittleEndian.Uint16(b) >> 2)
		if v <= MaxCompactSingle {
			return 0, 0, ErrNonCanonical
		}
		return v, 2, nil
	case 0b10:
		if len(b) < 4 {
			return 0, 0, ErrShortInput
		}
		v = uint64(binary.LittleEndian.Uint32(b) >> 2)
		if v <= MaxCompactTwo {
			return 0, 0, ErrNonCanonical
		}
		return v, 4, nil
	}
	size := int(b[0]>>2) + 4
	if len(b) < 1+size {
		return 0, 0, ErrShortInput
	}
	payload := b[1 : 1+size]
	if payload[size-1] == 0 {
		return 0, 0, ErrNonCanonical // a shorter length would do
	}
	if size > 8 {
		return 0, 0, ErrOverflow
	}
	for i := size - 1; i >= 0; i-- {
		v = v<<8 | uint64(payload[i])
	}
	if v <= MaxCompactFour {
		return 0, 0, ErrNonCanonical
	}
	return v, 1 + size, nil
}

// DecodeCompactBig is DecodeCompact for values of any width the big-integer
// mode allows (up to 67 bytes).
func DecodeCompactBig(b []byte) (*big.Int, int, error) {
	if len(b) > 0 && b[0]&0b11 == 0b11 && int(b[0]>>2)+4 > 8 {
		size := int(b[0]>>2) + 4
		if len(b) < 1+size {
			return nil, 0, ErrShortInput
		}
		payload := b[1 : 1+size]
		if payload[size-1] == 0 {
			return nil, 0, ErrNonCanonical
		}
		be := make([]byte, size)
		for i := range payload {
			be[size-1-i] = payload[i]
		}
		return new(big.Int).SetBytes(be), 1 + size, nil
	}
	v, n, err := DecodeCompact(b)
	if err != nil {
		return nil, 0, err
	}
	return new(big.Int).SetUint64(v), n, nil
}

// AppendU8 appends v to dst.
func AppendU8(dst []byte, v uint8) []byte { return append(dst, v) }

// AppendU16 appends v to dst as SCALE u16 (two bytes, little endian).
func AppendU16(dst []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(dst, v) }

// AppendU64 appends v to dst as SCALE u64 (eight bytes, little endian).
func AppendU64(dst []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(dst, v) }

// AppendU16Vec appends v to dst as SCALE Vec<u16>: a compact length, then
// each element as u16.
func AppendU16Vec(dst []byte, v []uint16) []byte {
	dst = AppendCompact(dst, uint64(len(v)))
	for _, x := range v {
		dst = AppendU16(dst, x)
	}
	return dst
}

// AppendBytes appends v to dst as SCALE Vec<u8>: a compact length, then the
// bytes.
func AppendBytes(dst []byte, v []byte) []byte {
	return append(AppendCompact(dst, uint64(len(v))), v...)
}

// AppendFixed32 appends a 32-byte value (AccountId32, H256) to dst. Fixed
// arrays carry no length prefix in SCALE.
func AppendFixed32(dst []byte, v [32]byte) []byte { return append(dst, v[:]...) }
