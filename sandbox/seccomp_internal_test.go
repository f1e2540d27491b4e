package sandbox

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// matches evaluates a condition the way seccomp does on a 64-bit argument.
func matches(a specs.LinuxSeccompArg, v uint64) bool {
	switch a.Op {
	case specs.OpEqualTo:
		return v == a.Value
	case specs.OpMaskedEqual:
		return v&a.Value == a.ValueTwo
	case specs.OpGreaterEqual:
		return v >= a.Value
	}
	panic("unexpected op " + a.Op)
}

func TestDeniedFamilyRanges(t *testing.T) {
	args := deniedFamilyRanges(allowedSocketFamilies)
	allowed := map[uint64]bool{}
	for _, f := range allowedSocketFamilies {
		allowed[f] = true
	}
	values := []uint64{1 << 32, 1<<32 | 1, 1<<32 | 2, 1<<32 | 40, 1 << 63, ^uint64(0), 0xffffffff}
	for v := uint64(0); v < 300; v++ {
		values = append(values, v)
	}
	for _, v := range values {
		denied := false
		for _, a := range args {
			denied = denied || matches(a, v)
		}
		if want := !allowed[v]; denied != want {
			t.Errorf("family %#x: denied=%v, want %v", v, denied, want)
		}
	}
	for _, a := range args {
		if a.Value > 0xffffffff || a.ValueTwo > 0xffffffff {
			t.Errorf("condition %+v does not fit a 32-bit argument", a)
		}
	}
}
