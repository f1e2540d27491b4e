package metric

import "math"

// Better reports whether candidate improves on incumbent in direction dir by
// MORE than threshold. The improvement is incumbent-candidate when
// minimizing and candidate-incumbent when maximizing; with relative set, the
// threshold is a fraction of |incumbent| (0.01 means "1% better").
//
// Ties are not improvements: equal values, or an improvement exactly equal to
// the threshold, return false, so the earlier submission keeps its place.
// (BitSota's 0.02-nat band: a value inside the band is not an improvement.)
// The comparison is done in float64 as written above, so values that differ
// from the threshold by rounding alone are decided by that rounding.
//
// A negative or NaN threshold counts as 0: a threshold cannot make a worse
// candidate win. Any non-finite candidate or incumbent, or an invalid dir,
// returns false; callers handle "no incumbent yet" themselves rather than
// pass an infinite sentinel.
func Better(dir Direction, candidate, incumbent, threshold float64, relative bool) bool {
	if !finite(candidate) || !finite(incumbent) {
		return false
	}
	var gain float64
	switch dir {
	case Minimize:
		gain = incumbent - candidate
	case Maximize:
		gain = candidate - incumbent
	default:
		return false
	}
	if !(threshold > 0) { // also catches NaN
		threshold = 0
	}
	if relative {
		threshold *= math.Abs(incumbent)
	}
	return gain > threshold
}

// ParetoDominates reports whether a Pareto-dominates b under spec: both are
// accepted and carry finite values for spec's metrics, a is no worse than b
// on the primary metric and on the secondary one, and strictly better on at
// least one. Without a secondary metric it reduces to "a is strictly better
// on the primary metric".
//
// Equal observations do not dominate each other, so, as with Better, the
// earlier submission keeps its place. Thresholds are not applied here: a
// leaderboard that wants a band on the primary metric checks Better first.
// An invalid spec returns false.
func ParetoDominates(a, b Observation, spec Spec) bool {
	if spec.Validate() != nil || a.Status != StatusAccepted || b.Status != StatusAccepted {
		return false
	}
	type axis struct {
		name string
		dir  Direction
	}
	axes := []axis{{spec.MetricName, spec.Direction}}
	if spec.SecondaryName != "" {
		axes = append(axes, axis{spec.SecondaryName, spec.SecondaryDirection})
	}
	strictly := false
	for _, ax := range axes {
		av, aok := a.Metrics[ax.name]
		bv, bok := b.Metrics[ax.name]
		if !aok || !bok || !finite(av) || !finite(bv) {
			return false
		}
		if Better(ax.dir, bv, av, 0, false) {
			return false // b is better on this axis
		}
		if Better(ax.dir, av, bv, 0, false) {
			strictly = true
		}
	}
	return strictly
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
