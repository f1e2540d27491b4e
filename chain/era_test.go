package chain

import (
	"bytes"
	"errors"
	"testing"
)

// The vectors are the halves of the well-known System.Account and
// Timestamp.Now storage keys (Timestamp.Now is 0xf0c365c3…4113c4 ‖
// 9f1f0515…5dfcbb); TestPolkadotCrossCheck also compares them with
// polkadot-js xxhashAsHex(x, 128). (A value once circulated for "Now",
// ba77fb55c81b5b8ce1a32a5e6c0b4e7b, is wrong: polkadot-js agrees with
// 9f1f0515….)
func TestTwox128(t *testing.T) {
	for in, want := range map[string]string{
		"System":    "26aa394eea5630e07c48ae0c9558cef7",
		"Account":   "b99d880ec681799c0cf30e8886371da9",
		"Timestamp": "f0c365c3cf59d671eb72da0e7a4113c4",
		"Now":       "9f1f0515f462cdcf84e0f1d6045dfcbb",
	} {
		if got := Twox128([]byte(in)); !bytes.Equal(got[:], mustHex(t, want)) {
			t.Errorf("twox128(%q) = %x, want %s", in, got, want)
		}
	}
}

func TestNetuidMapKey(t *testing.T) {
	p, i := Twox128([]byte("SubtensorModule")), Twox128([]byte("Tempo"))
	want := append(append(append([]byte{}, p[:]...), i[:]...), 0x2c, 0x01) // netuid 300, u16 LE
	if got := NetuidMapKey("Tempo", 300); !bytes.Equal(got, want) {
		t.Fatalf("key %x, want %x", got, want)
	}
}

func TestMortalEra(t *testing.T) {
	// Cases from sp_runtime's generic/era.rs tests.
	for _, c := range []struct {
		period, current uint64
		want            Era
	}{
		{64, 42, Era{64, 42}},
		{32768, 20000, Era{32768, 20000}},
		{200, 513, Era{256, 1}},
		{2, 1, Era{4, 1}},
		{4, 5, Era{4, 1}},
		{0, 7, Era{4, 3}},
		{1000000, 1000001, Era{65536, 1000001 % 65536 / 16 * 16}},
	} {
		if got := MortalEra(c.period, c.current); got != c.want {
			t.Errorf("MortalEra(%d, %d) = %+v, want %+v", c.period, c.current, got, c.want)
		}
		if err := MortalEra(c.period, c.current).Check(); err != nil {
			t.Errorf("MortalEra(%d, %d): %v", c.period, c.current, err)
		}
	}
}

func TestEraBirthDeath(t *testing.T) {
	e := MortalEra(4, 6)
	for i := uint64(6); i < 10; i++ {
		if e.Birth(i) != 6 || e.Death(i) != 10 {
			t.Errorf("at %d: birth %d death %d, want 6 and 10", i, e.Birth(i), e.Death(i))
		}
	}
	if (Era{}).Birth(123) != 0 || (Era{}).Death(123) != ^uint64(0) {
		t.Error("immortal era: birth must be genesis, death never")
	}
	// Quantized phase: the birth block moves back from the anchor.
	e = MortalEra(65536, 1000001)
	if b := e.Birth(1000001); b > 1000001 || 1000001-b >= 16 {
		t.Errorf("birth %d too far from 1000001", b)
	}
}

func TestEraEncoding(t *testing.T) {
	for _, c := range []struct {
		era Era
		hex string
	}{
		{Era{}, "00"},
		{Era{64, 42}, "a502"},       // [5 + 42%16*16, 42/16]
		{Era{32768, 20000}, "4e9c"}, // [14 + 2500%16*16, 2500/16]
		{Era{4, 0}, "0100"},
		{Era{65536, 65520}, "ffff"}, // quantize factor 16: 65520/16 = 4095
	} {
		got := AppendEra(nil, c.era)
		if !bytes.Equal(got, mustHex(t, c.hex)) {
			t.Errorf("AppendEra(%+v) = %x, want %s", c.era, got, c.hex)
		}
		e, n, err := DecodeEra(append(got, 0xee))
		if err != nil || n != len(got) || e != c.era {
			t.Errorf("DecodeEra(%x) = %+v, %d, %v", got, e, n, err)
		}
	}
}

func TestDecodeEraRejects(t *testing.T) {
	for _, h := range []string{"", "01", "1000", "4100", "ff"} {
		if _, _, err := DecodeEra(mustHex(t, h)); err == nil {
			t.Errorf("DecodeEra(%s) accepted", h)
		}
	}
	if _, _, err := DecodeEra(mustHex(t, "4100")); !errors.Is(err, ErrBadEra) {
		t.Errorf("phase >= period: %v, want ErrBadEra", err)
	}
	for _, e := range []Era{{Period: 6}, {Period: 8, Phase: 8}, {Period: 1 << 17}, {Period: 2}, {Phase: 1}, {Period: 32768, Phase: 3}} {
		if e.Check() == nil {
			t.Errorf("%+v passed Check", e)
		}
	}
}

// Every two-byte encoding either fails or round-trips exactly: the
// decoder accepts only what AppendEra produces.
func TestEraAllEncodings(t *testing.T) {
	for v := 1; v < 1<<16; v++ {
		b := []byte{byte(v), byte(v >> 8)}
		if b[0] == 0 {
			continue // immortal, one byte
		}
		e, n, err := DecodeEra(b)
		if err != nil {
			continue
		}
		if n != 2 || e.Check() != nil || !bytes.Equal(AppendEra(nil, e), b) {
			t.Fatalf("%x decodes to %+v (n=%d, check %v) but encodes to %x", b, e, n, e.Check(), AppendEra(nil, e))
		}
	}
}

func FuzzDecodeEra(f *testing.F) {
	for _, s := range []string{"00", "a502", "4e9c", "0100", "4100", "1000"} {
		f.Add(mustHex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, n, err := DecodeEra(b)
		if err != nil {
			return
		}
		if !bytes.Equal(AppendEra(nil, e), b[:n]) {
			t.Fatalf("%x → %+v → %x", b[:n], e, AppendEra(nil, e))
		}
	})
}
