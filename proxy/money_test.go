package proxy_test

import (
	"math"
	"testing"

	"github.com/agoranet/agora/proxy"
)

func TestPriceCost(t *testing.T) {
	for _, tt := range []struct {
		name               string
		in, out            string // USD per 1M tokens
		prompt, completion int64
		want               proxy.Micros
	}{
		// 1234 × $3/1M + 567 × $15/1M = $0.003702 + $0.008505.
		{"whole prices", "3", "15", 1234, 567, 12207},
		// 1234 × 0.15 + 567 × 0.6 = 525.3 µUSD: rounded up once per call.
		{"fractional rounds up", "0.15", "0.6", 1234, 567, 526},
		{"exact fraction", "0.15", "0.6", 1000, 1000, 750},
		{"nothing", "3", "15", 0, 0, 0},
		{"one token", "0.000001", "0.000001", 1, 0, 1},
		{"embedding", "0.02", "0", 1_000_000, 0, 20_000},
		{"a million million tokens", "3", "15", 1e12, 1e12, 18e12},
		{"saturates instead of wrapping", "1000", "1000", math.MaxInt64, math.MaxInt64, math.MaxInt64},
		{"negative usage is no usage", "3", "15", -5, 10, 150},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in, err := proxy.ParseUSD(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := proxy.ParseUSD(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if got := (proxy.Price{Input: in, Output: out}).Cost(tt.prompt, tt.completion); got != tt.want {
				t.Fatalf("Cost(%d, %d) at %s/%s = %d µUSD, want %d", tt.prompt, tt.completion, tt.in, tt.out, got, tt.want)
			}
		})
	}
}

// TestCostSumsExactly charges many small calls: the integer total equals
// the sum computed independently, where float dollars would drift.
func TestCostSumsExactly(t *testing.T) {
	price := proxy.Price{Input: 150_000, Output: 600_000} // $0.15 / $0.60
	var total proxy.Micros
	var fl float64
	for i := int64(1); i <= 10000; i++ {
		c := price.Cost(i, 3*i)
		total += c
		fl += float64(c) / 1e6
	}
	// Σ ceil((0.15 i + 1.8 i)) = Σ ceil(1.95 i) µUSD, computed directly.
	var want proxy.Micros
	for i := int64(1); i <= 10000; i++ {
		want += proxy.Micros((195*i + 99) / 100)
	}
	if total != want {
		t.Fatalf("total %d, want %d", total, want)
	}
	if proxy.Micros(math.Round(fl*1e6)) != want {
		t.Logf("a float sum would be off: %.9f vs %s", fl, want)
	}
}

func TestParseAndFormatUSD(t *testing.T) {
	for _, tt := range []struct {
		in    string
		want  proxy.Micros
		str   string
		short string
	}{
		{"2", 2_000_000, "$2.000000", "$2.00"},
		{"$2.5", 2_500_000, "$2.500000", "$2.50"},
		{"0.15", 150_000, "$0.150000", "$0.15"},
		{".5", 500_000, "$0.500000", "$0.50"},
		{"0.000001", 1, "$0.000001", "$0.000001"},
		{"2.000134", 2_000_134, "$2.000134", "$2.000134"},
		{"0", 0, "$0.000000", "$0.00"},
	} {
		got, err := proxy.ParseUSD(tt.in)
		if err != nil || got != tt.want || got.String() != tt.str || got.Short() != tt.short {
			t.Errorf("ParseUSD(%q) = %d (%s, %s), %v; want %d (%s, %s)", tt.in, got, got, got.Short(), err, tt.want, tt.str, tt.short)
		}
		if back, err := proxy.ParseUSD(got.Decimal()); err != nil || back != got {
			t.Errorf("Decimal %q does not parse back: %d, %v", got.Decimal(), back, err)
		}
	}
	for _, bad := range []string{"", "$", "-1", "+1", "1e3", "0.0000001", "abc", "1.2.3", "1,5", "99999999999999999999"} {
		if _, err := proxy.ParseUSD(bad); err == nil {
			t.Errorf("ParseUSD(%q) accepted", bad)
		}
	}
}
