package chain

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"testing"
)

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	if len(s) >= 2 && s[:2] == "0x" {
		s = s[2:]
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// compactVectors are known SCALE encodings (parity-scale-codec docs and
// tests), covering each mode and its boundaries.
var compactVectors = []struct {
	v   uint64
	hex string
}{
	{0, "00"},
	{1, "04"},
	{42, "a8"},
	{63, "fc"},
	{64, "0101"},
	{69, "1501"},
	{16383, "fdff"},
	{16384, "02000100"},
	{1073741823, "feffffff"},
	{1073741824, "0300000040"},
	{1<<32 - 1, "03ffffffff"},
	{1 << 32, "070000000001"},
	{1 << 48, "0f00000000000001"},
	{1<<56 - 1, "0fffffffffffffff"},
	{1 << 56, "130000000000000001"},
	{math.MaxUint64, "13ffffffffffffffff"},
}

func TestAppendCompact(t *testing.T) {
	for _, tt := range compactVectors {
		got := AppendCompact(nil, tt.v)
		if want := mustHex(t, tt.hex); !bytes.Equal(got, want) {
			t.Errorf("compact(%d) = %x, want %x", tt.v, got, want)
		}
		gotBig, err := AppendCompactBig(nil, new(big.Int).SetUint64(tt.v))
		if err != nil || !bytes.Equal(gotBig, got) {
			t.Errorf("AppendCompactBig(%d) = %x, %v; want %x", tt.v, gotBig, err, got)
		}
	}
}

func TestDecodeCompact(t *testing.T) {
	for _, tt := range compactVectors {
		in := append(mustHex(t, tt.hex), 0xaa, 0xbb) // trailing bytes are not consumed
		v, n, err := DecodeCompact(in)
		if err != nil || v != tt.v || n != len(in)-2 {
			t.Errorf("DecodeCompact(%s) = %d, %d, %v; want %d, %d", tt.hex, v, n, err, tt.v, len(in)-2)
		}
	}
}

func TestDecodeCompactErrors(t *testing.T) {
	tests := []struct {
		hex  string
		want error
	}{
		{"", ErrShortInput},
		{"01", ErrShortInput},
		{"020001", ErrShortInput},
		{"03ffffff", ErrShortInput},
		{"0100", ErrNonCanonical},                 // 0 in two-byte mode
		{"fd00", ErrNonCanonical},                 // 63 in two-byte mode
		{"02000000", ErrNonCanonical},             // 0 in four-byte mode
		{"feff0000", ErrNonCanonical},             // 16383 in four-byte mode
		{"03ffffff3f", ErrNonCanonical},           // 2^30-1 in big mode
		{"07ffffffff00", ErrNonCanonical},         // five bytes, top one zero
		{"17000000000000000001", ErrOverflow},     // 2^64, nine bytes
		{"170000000000000000", ErrShortInput},     // nine-byte payload cut short
		{"0f0000000000000000", ErrNonCanonical},   // seven-byte zero
		{"13000000000000000000", ErrNonCanonical}, // eight-byte zero
	}
	for _, tt := range tests {
		_, _, err := DecodeCompact(mustHex(t, tt.hex))
		if !errors.Is(err, tt.want) {
			t.Errorf("DecodeCompact(%q) error %v, want %v", tt.hex, err, tt.want)
		}
	}
}

func TestCompactBig(t *testing.T) {
	u128max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))
	max536 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 536), big.NewInt(1))
	tests := []struct {
		v    *big.Int
		want string
	}{
		{new(big.Int).Lsh(big.NewInt(1), 64), "17" + "0000000000000000" + "01"},
		{u128max, "33" + "ffffffffffffffffffffffffffffffff"},
		{max536, "ff" + string(bytes.Repeat([]byte("ff"), 67))},
	}
	for _, tt := range tests {
		got, err := AppendCompactBig(nil, tt.v)
		if err != nil {
			t.Fatalf("AppendCompactBig(%s): %v", tt.v, err)
		}
		if want := mustHex(t, tt.want); !bytes.Equal(got, want) {
			t.Errorf("AppendCompactBig(%s) = %x, want %x", tt.v, got, want)
		}
		back, n, err := DecodeCompactBig(got)
		if err != nil || back.Cmp(tt.v) != 0 || n != len(got) {
			t.Errorf("DecodeCompactBig(%x) = %s, %d, %v", got, back, n, err)
		}
	}
	if _, err := AppendCompactBig(nil, new(big.Int).Lsh(big.NewInt(1), 536)); err == nil {
		t.Error("2^536: want error, too wide")
	}
	if _, err := AppendCompactBig(nil, big.NewInt(-1)); err == nil {
		t.Error("-1: want error")
	}
	if _, _, err := DecodeCompactBig(mustHex(t, "170000000000000000"+"00")); !errors.Is(err, ErrNonCanonical) {
		t.Errorf("nine-byte zero: error %v, want ErrNonCanonical", err)
	}
}

func TestAppendFixedWidth(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"u8", AppendU8(nil, 0xab), "ab"},
		{"u16", AppendU16(nil, 0x1234), "3412"},
		{"u16 max", AppendU16(nil, 65535), "ffff"},
		{"u64", AppendU64(nil, 1033), "0904000000000000"},
		{"u64 max", AppendU64(nil, math.MaxUint64), "ffffffffffffffff"},
		{"Vec<u16> empty", AppendU16Vec(nil, nil), "00"},
		{"Vec<u16>", AppendU16Vec(nil, []uint16{0, 3, 7}), "0c000003000700"},
		{"Vec<u8>", AppendBytes(nil, []byte("abc")), "0c616263"},
		{"AccountId32", AppendFixed32(nil, [32]byte{0: 1, 31: 2}), "01" + "000000000000000000000000000000000000000000000000000000000000" + "02"},
		{"appends", AppendU16([]byte{9}, 1), "090100"},
	}
	for _, tt := range tests {
		if want := mustHex(t, tt.want); !bytes.Equal(tt.got, want) {
			t.Errorf("%s: got %x, want %x", tt.name, tt.got, want)
		}
	}
	// A Vec<u16> longer than 63 elements takes the two-byte length mode.
	v := AppendU16Vec(nil, make([]uint16, 64))
	if len(v) != 2+128 || v[0] != 0x01 || v[1] != 0x01 {
		t.Errorf("Vec<u16> of 64: prefix %x, len %d", v[:2], len(v))
	}
}

// FuzzCompactRoundTrip checks that decoding never panics, that anything the
// decoder accepts re-encodes to exactly the bytes it consumed (canonical
// form), and that encoding then decoding any uint64 is the identity.
func FuzzCompactRoundTrip(f *testing.F) {
	for _, tt := range compactVectors {
		f.Add(mustHex(f, tt.hex), tt.v)
	}
	f.Add([]byte{0x01, 0x00}, uint64(0))
	f.Add([]byte{0x17, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint64(1)<<63)
	f.Fuzz(func(t *testing.T, b []byte, x uint64) {
		if v, n, err := DecodeCompact(b); err == nil {
			if n > len(b) {
				t.Fatalf("consumed %d of %d bytes", n, len(b))
			}
			if re := AppendCompact(nil, v); !bytes.Equal(re, b[:n]) {
				t.Fatalf("decode(%x) = %d, re-encodes to %x", b[:n], v, re)
			}
		}
		if bv, n, err := DecodeCompactBig(b); err == nil {
			re, err := AppendCompactBig(nil, bv)
			if err != nil || !bytes.Equal(re, b[:n]) {
				t.Fatalf("big decode(%x) = %s, re-encodes to %x, %v", b[:n], bv, re, err)
			}
		}
		enc := AppendCompact(nil, x)
		v, n, err := DecodeCompact(enc)
		if err != nil || v != x || n != len(enc) {
			t.Fatalf("round trip %d: enc %x, got %d, %d, %v", x, enc, v, n, err)
		}
	})
}

func BenchmarkAppendCompact(b *testing.B) {
	buf := make([]byte, 0, 16)
	for i := 0; i < b.N; i++ {
		buf = AppendCompact(buf[:0], uint64(i)<<20)
	}
}
