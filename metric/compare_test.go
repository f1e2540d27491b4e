package metric_test

import (
	"math"
	"testing"

	"github.com/agoranet/agora/metric"
)

func TestBetter(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tt := range []struct {
		name                 string
		dir                  metric.Direction
		cand, inc, threshold float64
		relative             bool
		want                 bool
	}{
		{"MinimizeLowerWins", metric.Minimize, 2, 3, 0, false, true},
		{"MinimizeHigherLoses", metric.Minimize, 4, 3, 0, false, false},
		{"MaximizeHigherWins", metric.Maximize, 0.9, 0.8, 0, false, true},
		{"MaximizeLowerLoses", metric.Maximize, 0.7, 0.8, 0, false, false},
		{"TieLoses", metric.Minimize, 3, 3, 0, false, false},
		{"TieLosesMaximize", metric.Maximize, 3, 3, 0, false, false},
		{"InsideBandLoses", metric.Minimize, 2.99, 3, 0.02, false, false},
		{"ExactlyThresholdLoses", metric.Minimize, 2.5, 3, 0.5, false, false},
		{"ExactlyThresholdLosesMaximize", metric.Maximize, 3.5, 3, 0.5, false, false},
		{"PastBandWins", metric.Minimize, 2.97, 3, 0.02, false, true},
		{"RelativeTenPercentExactlyLoses", metric.Maximize, 110, 100, 0.1, true, false},
		{"RelativeExactlyThresholdLoses", metric.Maximize, 12, 8, 0.5, true, false},
		{"RelativePastThresholdWins", metric.Maximize, 12.5, 8, 0.5, true, true},
		{"RelativeUsesAbsIncumbent", metric.Maximize, -7.5, -8, 0.5, true, false},
		{"RelativeUsesAbsIncumbentWins", metric.Maximize, -3.5, -8, 0.5, true, true},
		{"RelativeZeroIncumbentAnyGainWins", metric.Minimize, -1e-9, 0, 0.5, true, true},
		{"NegativeThresholdIsZero", metric.Minimize, 3.1, 3, -1, false, false},
		{"NaNThresholdIsZero", metric.Minimize, 2, 3, nan, false, true},
		{"NaNCandidateLoses", metric.Minimize, nan, 3, 0, false, false},
		{"NaNIncumbentLoses", metric.Minimize, 2, nan, 0, false, false},
		{"InfiniteCandidateLoses", metric.Maximize, inf, 3, 0, false, false},
		{"InfiniteIncumbentLoses", metric.Minimize, 2, inf, 0, false, false},
		{"InvalidDirectionLoses", "", 2, 3, 0, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := metric.Better(tt.dir, tt.cand, tt.inc, tt.threshold, tt.relative); got != tt.want {
				t.Errorf("Better(%q, %v, %v, %v, %v)=%v, want %v", tt.dir, tt.cand, tt.inc, tt.threshold, tt.relative, got, tt.want)
			}
		})
	}
}

func TestParetoDominates(t *testing.T) {
	spec := metric.Spec{MetricName: "ppl", Direction: metric.Minimize, RankingMode: metric.Pareto, SecondaryName: "acc", SecondaryDirection: metric.Maximize}
	obs := func(ppl, acc float64) metric.Observation {
		return metric.Observation{Status: metric.StatusAccepted, Metrics: map[string]float64{"ppl": ppl, "acc": acc}}
	}
	for _, tt := range []struct {
		name string
		a, b metric.Observation
		spec metric.Spec
		want bool
	}{
		{"BetterOnBothDominates", obs(2, 0.9), obs(3, 0.8), spec, true},
		{"BetterOnPrimaryEqualSecondaryDominates", obs(2, 0.8), obs(3, 0.8), spec, true},
		{"EqualPrimaryBetterSecondaryDominates", obs(3, 0.9), obs(3, 0.8), spec, true},
		{"EqualDoesNotDominate", obs(3, 0.8), obs(3, 0.8), spec, false},
		{"TradeOffDoesNotDominate", obs(2, 0.7), obs(3, 0.8), spec, false},
		{"WorseDoesNotDominate", obs(3, 0.8), obs(2, 0.9), spec, false},
		{"NotAcceptedDoesNotDominate", metric.Observation{Status: metric.StatusError, Metrics: obs(1, 1).Metrics}, obs(3, 0.8), spec, false},
		{"AgainstNotAcceptedIsFalse", obs(1, 1), metric.Observation{Status: metric.StatusRejected}, spec, false},
		{"MissingSecondaryDoesNotDominate", metric.Observation{Status: metric.StatusAccepted, Metrics: map[string]float64{"ppl": 1}}, obs(3, 0.8), spec, false},
		{"NaNDoesNotDominate", obs(math.NaN(), 0.9), obs(3, 0.8), spec, false},
		{"ScalarStrictlyBetterDominates", obs(2, 0), obs(3, 1), metric.Spec{MetricName: "ppl", Direction: metric.Minimize}, true},
		{"ScalarTieDoesNotDominate", obs(3, 1), obs(3, 0), metric.Spec{MetricName: "ppl", Direction: metric.Minimize}, false},
		{"InvalidSpecIsFalse", obs(2, 0.9), obs(3, 0.8), metric.Spec{MetricName: "ppl"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := metric.ParetoDominates(tt.a, tt.b, tt.spec); got != tt.want {
				t.Errorf("ParetoDominates(%v, %v)=%v, want %v", tt.a.Metrics, tt.b.Metrics, got, tt.want)
			}
		})
	}
}
