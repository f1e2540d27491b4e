package chain

import (
	"strings"
	"testing"
)

func TestVersionAsInt(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"10.2.0", 10002000},
		{"9.12.2", 9012002},
		{"0.0.1", 1},
		{"1.0.0", 1000000},
		{"999.999.999", 999999999},
		{"2.147.483.647", 2147483647},
		{"7", 7},
		{"1.2", 1002},
	}
	for _, tt := range tests {
		got, err := VersionAsInt(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("VersionAsInt(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestVersionAsIntErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `part 0 ("") is not`},
		{"10.2.0rc1", `part 2 ("0rc1") is not`},
		{"10.-2.0", `part 1 ("-2") is not`},
		{"10.1000.0", "part 1 (1000) must be below 1000"},
		{"2.147.483.648", "exceeds int32"},
		{"3.0.0.0", "exceeds int32"},
		{"1.2.3.4.5.6.7", "exceeds int32"},
	}
	for _, tt := range tests {
		got, err := VersionAsInt(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("VersionAsInt(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.want)
		}
	}
}
