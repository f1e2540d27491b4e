package proxy

import (
	"math"
	"math/bits"
	"strconv"
	"strings"

	"github.com/agoranet/agora"
)

// Micros is an amount of money in millionths of a US dollar (µUSD). It is an
// integer on purpose: a run's spend is a sum of thousands of small charges,
// and the validator reports it; float sums drift, integer sums are exact.
type Micros int64

// MicrosPerUSD is one dollar.
const MicrosPerUSD Micros = 1_000_000

// USD returns whole dollars as Micros.
func USD(dollars int64) Micros { return Micros(dollars) * MicrosPerUSD }

// ParseUSD parses a decimal dollar amount exactly, without going through a
// float: "2", "0.15", "$1.50", "0.000001". More than six decimals is an
// error rather than a silent rounding.
func ParseUSD(s string) (Micros, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "$")
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" && frac == "" || strings.HasPrefix(whole, "-") || strings.HasPrefix(whole, "+") {
		return 0, agora.Errorf(agora.EINVALID, "%q is not a dollar amount (want e.g. 2 or 0.15)", s)
	}
	if len(frac) > 6 {
		return 0, agora.Errorf(agora.EINVALID, "%q: at most 6 decimals (micro-dollars)", s)
	}
	var w int64
	if whole != "" {
		var err error
		if w, err = strconv.ParseInt(whole, 10, 64); err != nil || w > math.MaxInt64/int64(MicrosPerUSD)-1 {
			return 0, agora.Errorf(agora.EINVALID, "%q is not a dollar amount (want e.g. 2 or 0.15)", s)
		}
	}
	var f int64
	if frac != "" {
		for _, c := range frac {
			if c < '0' || c > '9' {
				return 0, agora.Errorf(agora.EINVALID, "%q is not a dollar amount (want e.g. 2 or 0.15)", s)
			}
		}
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	return Micros(w)*MicrosPerUSD + Micros(f), nil
}

// String formats m with all six decimals, "$2.000134", so a spend is shown
// exactly.
func (m Micros) String() string {
	sign := ""
	u := uint64(m)
	if m < 0 {
		sign, u = "-", uint64(-m)
	}
	return sign + "$" + strconv.FormatUint(u/1e6, 10) + "." + pad6(u%1e6)
}

// Short formats m with trailing zeros dropped but at least two decimals,
// "$2.00" or "$0.15", for budgets and prices that are round numbers.
func (m Micros) Short() string {
	s := m.String()
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.') > 3 {
		s = s[:len(s)-1]
	}
	return s
}

// Decimal formats m as a plain decimal number of dollars, "0.15", the form
// ParseUSD reads back.
func (m Micros) Decimal() string {
	s := strings.Replace(m.String(), "$", "", 1)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

func pad6(v uint64) string {
	s := strconv.FormatUint(v, 10)
	return strings.Repeat("0", 6-len(s)) + s
}

// addSat adds without wrapping: a counter that saturates is wrong but safe,
// a counter that wraps negative would hand a run a fresh budget.
func addSat(a, b Micros) Micros {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// USD is m in dollars, for the clients whose protocols carry floats
// (Ridges' gateway); Agora's own accounting stays in whole µUSD.
func (m Micros) USD() float64 { return float64(m) / 1e6 }

// Price is what one model costs. Each field is the price of one million
// tokens in USD, held as Micros: $3 per 1M tokens is Input: 3_000_000,
// which is also the price of one token in µUSD times a million.
type Price struct {
	Input  Micros // per 1M prompt (input) tokens
	Output Micros // per 1M completion (output) tokens; unused for embeddings
}

// Cost is the charge for a call, rounded up to the next whole µUSD once
// per call (never per token), so a call is never undercharged and the
// rounding costs a run at most 1 µUSD per call. The product is computed
// in 128 bits: a hostile or broken usage report saturates instead of
// wrapping.
func (p Price) Cost(promptTokens, completionTokens int64) Micros {
	hi1, lo1 := bits.Mul64(nonNeg(promptTokens), nonNeg(int64(p.Input)))
	hi2, lo2 := bits.Mul64(nonNeg(completionTokens), nonNeg(int64(p.Output)))
	lo, carry := bits.Add64(lo1, lo2, 0)
	hi, over := bits.Add64(hi1, hi2, carry)
	lo, carry = bits.Add64(lo, 1e6-1, 0)
	hi, over2 := bits.Add64(hi, 0, carry)
	if over != 0 || over2 != 0 || hi >= 1e6 {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, 1e6)
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return Micros(q)
}

func nonNeg(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}
