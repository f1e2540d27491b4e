package chain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrTrailingBytes is wrapped when a value decodes but bytes are left over:
// the layout we expect is not the one the node encoded.
var ErrTrailingBytes = errors.New("scale: trailing bytes")

// ErrInvalidValue is wrapped for bytes that are well-formed SCALE but not a
// valid value of the type read: a bool other than 0 or 1, a Compact<u16>
// above 65535, a vector longer than the input could hold.
var ErrInvalidValue = errors.New("scale: invalid value")

// Decoder reads SCALE values from a byte slice. Input is untrusted (it comes
// from a node over the network), so every read is bounds-checked and no
// length prefix is trusted for an allocation before it is checked against
// the bytes actually left. The first error sticks: later reads return zero
// values and do nothing, so a struct can be read field by field and Err
// checked once at the end.
type Decoder struct {
	b   []byte
	off int
	err error
}

// NewDecoder returns a Decoder reading b from the start.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Err returns the first error met, if any.
func (d *Decoder) Err() error { return d.err }

// Offset returns the number of bytes consumed so far.
func (d *Decoder) Offset() int { return d.off }

// Remaining returns the number of bytes not yet read.
func (d *Decoder) Remaining() int { return len(d.b) - d.off }

// Finish returns the first error, or an ErrTrailingBytes error if input is
// left over.
func (d *Decoder) Finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.err = fmt.Errorf("%w: %d of %d bytes unread", ErrTrailingBytes, len(d.b)-d.off, len(d.b))
	}
	return d.err
}

// Fail records err (with the current offset) unless an error is already
// recorded. Callers use it for semantic checks of their own.
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = fmt.Errorf("at byte %d: %w", d.off, err)
	}
}

// Take returns the next n bytes (a sub-slice of the input, not a copy), or
// nil after recording ErrShortInput.
func (d *Decoder) Take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.Fail(fmt.Errorf("%w: need %d bytes, have %d", ErrShortInput, n, len(d.b)-d.off))
		return nil
	}
	s := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return s
}

// U8 reads a u8.
func (d *Decoder) U8() uint8 {
	if b := d.Take(1); b != nil {
		return b[0]
	}
	return 0
}

// U16 reads a little-endian u16.
func (d *Decoder) U16() uint16 {
	if b := d.Take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

// U32 reads a little-endian u32.
func (d *Decoder) U32() uint32 {
	if b := d.Take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// U64 reads a little-endian u64.
func (d *Decoder) U64() uint64 {
	if b := d.Take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// U128 reads a little-endian u128.
func (d *Decoder) U128() Uint128 {
	if b := d.Take(16); b != nil {
		return Uint128{Lo: binary.LittleEndian.Uint64(b), Hi: binary.LittleEndian.Uint64(b[8:])}
	}
	return Uint128{}
}

// Bool reads a SCALE bool. Like parity-scale-codec it accepts only 0 and
// 1, so a misaligned read is caught early instead of yielding garbage.
func (d *Decoder) Bool() bool {
	switch d.U8() {
	case 0:
		return false
	case 1:
		return true
	}
	d.Fail(fmt.Errorf("%w: bool byte is not 0 or 1", ErrInvalidValue))
	return false
}

// Fixed32 reads a 32-byte array (AccountId32, H256).
func (d *Decoder) Fixed32() [32]byte {
	var v [32]byte
	if b := d.Take(32); b != nil {
		copy(v[:], b)
	}
	return v
}

// Compact reads a compact integer that fits in a u64.
func (d *Decoder) Compact() uint64 {
	if d.err != nil {
		return 0
	}
	v, n, err := DecodeCompact(d.b[d.off:])
	if err != nil {
		d.Fail(err)
		return 0
	}
	d.off += n
	return v
}

// CompactMax reads a compact integer and fails if it exceeds limit, the way
// Compact<u16> or Compact<u32> refuse wider values.
func (d *Decoder) CompactMax(limit uint64) uint64 {
	v := d.Compact()
	if v > limit {
		d.Fail(fmt.Errorf("%w: compact %d exceeds %d", ErrInvalidValue, v, limit))
		return 0
	}
	return v
}

// CompactU16 reads a Compact<u16>.
func (d *Decoder) CompactU16() uint16 { return uint16(d.CompactMax(math.MaxUint16)) }

// VecLen reads the compact length of a vector whose elements take at least
// minElem bytes each (minElem >= 1), and fails if the remaining input
// cannot hold that many. That check is what makes it safe to allocate the
// result: a hostile prefix claiming 2^60 elements is rejected before any
// allocation.
func (d *Decoder) VecLen(minElem int) int {
	n := d.Compact()
	if d.err != nil {
		return 0
	}
	if minElem < 1 {
		minElem = 1
	}
	if n > uint64(d.Remaining()/minElem) {
		d.Fail(fmt.Errorf("%w: vector of %d elements cannot fit in %d bytes", ErrShortInput, n, d.Remaining()))
		return 0
	}
	return int(n)
}

// Bytes reads a Vec<u8>, returning a sub-slice of the input.
func (d *Decoder) Bytes() []byte { return d.Take(d.VecLen(1)) }

// U16Vec reads a Vec<u16>.
func (d *Decoder) U16Vec() []uint16 {
	n := d.VecLen(2)
	v := make([]uint16, n)
	for i := range v {
		v[i] = d.U16()
	}
	if d.err != nil {
		return nil
	}
	return v
}

// U64Vec reads a Vec<u64>.
func (d *Decoder) U64Vec() []uint64 {
	n := d.VecLen(8)
	v := make([]uint64, n)
	for i := range v {
		v[i] = d.U64()
	}
	if d.err != nil {
		return nil
	}
	return v
}

// Uint128 is a SCALE u128 (axon IP addresses).
type Uint128 struct{ Lo, Hi uint64 }

// AppendU32 appends v to dst as SCALE u32 (four bytes, little endian).
func AppendU32(dst []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(dst, v) }

// AppendU128 appends v to dst as SCALE u128 (sixteen bytes, little endian).
func AppendU128(dst []byte, v Uint128) []byte {
	return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(dst, v.Lo), v.Hi)
}

// AppendBool appends v to dst as SCALE bool.
func AppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}
