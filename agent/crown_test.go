package agent_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora/agent"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func entry(id string, age int, score float64) agent.Entry {
	return agent.Entry{ID: id, CreatedAt: t0.Add(time.Duration(age) * time.Hour), Score: score}
}

func TestCrown(t *testing.T) {
	inc := entry("inc", 0, 0.5)
	copyOf := func(e agent.Entry, sim float64) agent.Entry {
		e.SimilarTo, e.Similarity = "inc", sim
		return e
	}
	tests := []struct {
		name       string
		incumbent  *agent.Entry
		challenger agent.Entry
		rule       agent.Rule
		crowned    bool
		nearCopy   bool
		reason     string
	}{
		{"vacant_positive", nil, entry("c", 1, 0.01), agent.Rule{}, true, false, "vacant crown"},
		{"vacant_zero", nil, entry("c", 1, 0), agent.Rule{}, false, false, "resolved nothing"},
		// The e2e case: incumbent 0.5, bar 0.5075.
		{"one_percent_better_stays", &inc, entry("c", 1, 0.505), agent.Rule{}, false, false, "short of the bar"},
		{"two_percent_better_takes", &inc, entry("c", 1, 0.51), agent.Rule{}, true, false, "takes the crown"},
		{"exactly_at_bar", &inc, entry("c", 1, 0.5075), agent.Rule{}, true, false, "0.5075 ≥ 0.5075"},
		{"just_under_bar", &inc, entry("c", 1, 0.50749), agent.Rule{}, false, false, "short of the bar"},
		// 0.4 × 1.015 is 0.40599999999999997 in binary; the rule is decimal.
		{"decimal_exact_bar", ptr(entry("inc", 0, 0.4)), entry("c", 1, 0.406), agent.Rule{}, true, false, "takes the crown"},
		{"custom_margin", &inc, entry("c", 1, 0.54), agent.Rule{Margin: 0.1}, false, false, "short of the bar"},
		{"no_margin_strictly_better", &inc, entry("c", 1, 0.5001), agent.Rule{Margin: -1}, true, false, "takes the crown"},
		{"tie_newer_stays", &inc, entry("c", 1, 0.5), agent.Rule{Margin: -1}, false, false, "ties go to the older agent"},
		{"tie_older_takes", &inc, entry("c", -1, 0.5), agent.Rule{Margin: -1}, true, false, "older agent"},
		{"tie_same_time_smaller_id", &inc, entry("a", 0, 0.5), agent.Rule{Margin: -1}, true, false, "older agent"},
		{"zero_challenger_never", ptr(entry("inc", 0, 0)), entry("c", -1, 0), agent.Rule{Margin: -1}, false, false, "resolved nothing"},
		{"beats_zero_incumbent", ptr(entry("inc", 0, 0)), entry("c", 1, 0.02), agent.Rule{}, true, false, "takes the crown"},
		{"near_copy_under_margin", &inc, copyOf(entry("c", 1, 0.505), 0.95), agent.Rule{}, false, true, "near-copy of inc"},
		{"near_copy_beating_margin", &inc, copyOf(entry("c", 1, 0.52), 0.95), agent.Rule{}, true, true, "near-copy of inc"},
		{"near_copy_no_margin_rule", &inc, copyOf(entry("c", 1, 0.505), 0.95), agent.Rule{Margin: -1}, false, true, "short of the bar"},
		{"near_copy_no_tie", &inc, copyOf(entry("c", -1, 0.5), 0.99), agent.Rule{Margin: -1}, false, true, "short of the bar"},
		{"similar_under_bound", &inc, copyOf(entry("c", 1, 0.51), 0.9), agent.Rule{}, true, false, "takes the crown"},
		{"copy_bound_custom", &inc, copyOf(entry("c", 1, 0.51), 0.85), agent.Rule{CopyBound: 0.8}, true, true, "near-copy"},
		{"nan_margin_is_default", &inc, entry("c", 1, 0.505), agent.Rule{Margin: math.NaN()}, false, false, "short of the bar"},
		{"invalid_score", &inc, entry("c", 1, math.NaN()), agent.Rule{}, false, false, "no valid score"},
		{"invalid_incumbent", ptr(entry("inc", 0, 2)), entry("c", 1, 0.5), agent.Rule{}, false, false, "no valid stored score"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := agent.Crown(tt.incumbent, tt.challenger, tt.rule)
			if d.Crowned != tt.crowned || d.NearCopy != tt.nearCopy || !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("Crown = %+v, want crowned=%v nearCopy=%v reason containing %q", d, tt.crowned, tt.nearCopy, tt.reason)
			}
			t.Log(d.Reason)
		})
	}
}

func ptr(e agent.Entry) *agent.Entry { return &e }

// outcomes returns n problems where the first k are resolved.
func outcomes(n, k int) map[string]float64 {
	m := map[string]float64{}
	for i := range n {
		v := 0.0
		if i < k {
			v = 1
		}
		m[fmt.Sprintf("p%03d", i)] = v
	}
	return m
}

func TestCrownBootstrap(t *testing.T) {
	rule := agent.Rule{Bootstrap: true}
	inc := entry("inc", 0, 0.5)
	inc.Outcomes = outcomes(100, 50)

	// Significant: the challenger solves everything the incumbent did and
	// 20 more.
	strong := entry("strong", 1, 0.7)
	strong.Outcomes = outcomes(100, 70)
	d := agent.Crown(&inc, strong, rule)
	if !d.Crowned || !d.Bootstrapped || d.Shared != 100 || d.PValue >= 0.05 {
		t.Fatalf("strong: %+v", d)
	}

	// Over the bar but not significant: +1 problem of 100 from a
	// reshuffle of which problems are solved.
	noisy := entry("noisy", 1, 0.51)
	noisy.Outcomes = outcomes(100, 0)
	for i := 0; i < 51; i++ {
		noisy.Outcomes[fmt.Sprintf("p%03d", 99-i)] = 1
	}
	d = agent.Crown(&inc, noisy, rule)
	if d.Crowned || !d.Bootstrapped || d.PValue < 0.05 || !strings.Contains(d.Reason, "not significant") {
		t.Fatalf("noisy: %+v", d)
	}
	// Without the bootstrap the same challenger clears the margin.
	if d := agent.Crown(&inc, noisy, agent.Rule{}); !d.Crowned {
		t.Fatalf("noisy without bootstrap: %+v", d)
	}

	// Deterministic: the same pair gives the same p-value, other IDs
	// (another seed) a close one.
	mid := entry("mid", 1, 0.56)
	mid.Outcomes = outcomes(100, 56)
	d1, d2 := agent.Crown(&inc, mid, rule), agent.Crown(&inc, mid, rule)
	if d1.PValue != d2.PValue {
		t.Fatalf("not deterministic: %v vs %v", d1.PValue, d2.PValue)
	}
	mid.ID = "mid2"
	if d3 := agent.Crown(&inc, mid, rule); math.Abs(d3.PValue-d1.PValue) > 0.02 || d3.PValue == d1.PValue {
		t.Fatalf("seed: p %v vs %v", d3.PValue, d1.PValue)
	}

	// Only shared problems count, and none shared means no crown.
	other := entry("other", 1, 0.9)
	other.Outcomes = map[string]float64{"q1": 1}
	if d := agent.Crown(&inc, other, rule); d.Crowned || d.Shared != 0 || !strings.Contains(d.Reason, "shares no evaluated problems") {
		t.Fatalf("disjoint: %+v", d)
	}

	// The bar is still checked first.
	weak := entry("weak", 1, 0.505)
	weak.Outcomes = outcomes(100, 50)
	if d := agent.Crown(&inc, weak, rule); d.Crowned || d.Bootstrapped {
		t.Fatalf("weak: %+v", d)
	}

	// Fractional outcomes and custom alpha/resamples.
	frac := entry("frac", 1, 0.8)
	frac.Outcomes = map[string]float64{}
	for k, v := range inc.Outcomes {
		frac.Outcomes[k] = math.Min(1, v+0.3)
	}
	d = agent.Crown(&inc, frac, agent.Rule{Bootstrap: true, Resamples: 500, Alpha: 0.01})
	if !d.Crowned || d.PValue != 1.0/501 {
		t.Fatalf("frac: %+v", d)
	}
}
