package chain

import (
	"errors"
	"fmt"
	"math/bits"
)

// Era is a transaction's validity window (sp_runtime::generic::Era). The
// zero value is the immortal era. A mortal era is valid for Period blocks
// from its birth block, the latest block at or before the signing block
// whose number is ≡ Phase (mod Period).
type Era struct {
	Period uint64 // a power of two in [4, 65536]; 0 means immortal
	Phase  uint64 // < Period
}

// Mortal-era limits of sp_runtime's Era::mortal.
const (
	minEraPeriod = 4
	maxEraPeriod = 1 << 16
)

// ErrBadEra is wrapped by DecodeEra for encodings Substrate rejects.
var ErrBadEra = errors.New("invalid era")

// MortalEra returns the era Substrate's Era::mortal(period, current) builds:
// period rounded up to a power of two and clamped to [4, 65536], phase
// current mod period, quantized so it fits the 12 bits the encoding gives
// it. current is the number of the block whose hash the signer commits to.
func MortalEra(period, current uint64) Era {
	p := uint64(minEraPeriod)
	for p < period && p < maxEraPeriod {
		p <<= 1
	}
	phase := current % p
	q := max(p>>12, 1)
	return Era{Period: p, Phase: phase / q * q}
}

// Check reports whether e is an era AppendEra can encode faithfully: the
// immortal era, or a power-of-two period in [4, 65536] with a phase below
// it that survives quantization (what MortalEra and DecodeEra return).
func (e Era) Check() error {
	if e.IsImmortal() {
		if e.Phase != 0 {
			return fmt.Errorf("immortal era with phase %d: %w", e.Phase, ErrBadEra)
		}
		return nil
	}
	q := max(e.Period>>12, 1)
	if e.Period < minEraPeriod || e.Period > maxEraPeriod || e.Period&(e.Period-1) != 0 ||
		e.Phase >= e.Period || e.Phase%q != 0 {
		return fmt.Errorf("era period %d phase %d: %w", e.Period, e.Phase, ErrBadEra)
	}
	return nil
}

// IsImmortal reports whether e is the immortal era.
func (e Era) IsImmortal() bool { return e.Period == 0 }

// Birth returns the first block the transaction is valid in when signed at
// block current: the block whose hash CheckMortality signs. For the immortal
// era it is 0 (the genesis block).
func (e Era) Birth(current uint64) uint64 {
	if e.IsImmortal() {
		return 0
	}
	return (max(current, e.Phase)-e.Phase)/e.Period*e.Period + e.Phase
}

// Death returns the first block the transaction is no longer valid in, when
// signed at block current; for the immortal era, the maximum uint64.
func (e Era) Death(current uint64) uint64 {
	if e.IsImmortal() {
		return ^uint64(0)
	}
	return e.Birth(current) + e.Period
}

// AppendEra appends the SCALE encoding of e: 0x00 for immortal, otherwise
// the two-byte little-endian value
// min(15, max(1, log2(period)-1)) | (phase/quantize_factor) << 4.
func AppendEra(dst []byte, e Era) []byte {
	if e.IsImmortal() {
		return append(dst, 0)
	}
	q := max(e.Period>>12, 1)
	low := min(max(uint64(bits.TrailingZeros64(e.Period))-1, 1), 15)
	v := uint16(low | (e.Phase/q)<<4)
	return append(dst, byte(v), byte(v>>8))
}

// DecodeEra decodes an era from the start of b and returns it with the
// number of bytes read. It accepts what sp_runtime's decoder accepts: a zero
// first byte (immortal) or two bytes giving period >= 4 and phase < period.
func DecodeEra(b []byte) (Era, int, error) {
	if len(b) == 0 {
		return Era{}, 0, fmt.Errorf("era: %w", ErrShortInput)
	}
	if b[0] == 0 {
		return Era{}, 1, nil
	}
	if len(b) < 2 {
		return Era{}, 0, fmt.Errorf("era: %w", ErrShortInput)
	}
	v := uint64(b[0]) | uint64(b[1])<<8
	period := uint64(2) << (v % 16)
	q := max(period>>12, 1)
	phase := (v >> 4) * q
	if period < minEraPeriod || phase >= period {
		return Era{}, 0, fmt.Errorf("era 0x%02x%02x: period %d phase %d: %w", b[0], b[1], period, phase, ErrBadEra)
	}
	return Era{Period: period, Phase: phase}, 2, nil
}
