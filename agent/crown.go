package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"
)

// Defaults of Rule.
const (
	DefaultMargin    = 0.015
	DefaultResamples = 10000
	DefaultAlpha     = 0.05
	DefaultCopyBound = 0.9
	// MaxResamples bounds the bootstrap's work.
	MaxResamples = 1_000_000
)

// Entry is one scored agent as the crowning rule sees it.
type Entry struct {
	ID        string
	CreatedAt time.Time
	// Score is the fraction of problems resolved. For the incumbent it is
	// the stored score from when it was crowned; it is never re-run, so a
	// lucky or unlucky re-evaluation cannot move the bar.
	Score float64
	// Outcomes are per-problem results (problem id → 1 resolved, 0 not,
	// or a fraction), used by the bootstrap.
	Outcomes map[string]float64
	// SimilarTo is the earlier agent (the incumbent or any other) this one
	// is most similar to, and Similarity its Similarity to that agent.
	SimilarTo  string
	Similarity float64
}

// Rule configures Crown. Zero fields take the defaults.
type Rule struct {
	// Margin is the relative gain required over the incumbent's stored
	// score: 0 (or NaN, ±Inf) means DefaultMargin; a negative value means
	// no margin. agora.League validates its margin to [0, 10] and defaults
	// 0 the same way.
	Margin float64
	// Bootstrap additionally requires a paired bootstrap over the
	// problems both agents were evaluated on to find the gain
	// significant.
	Bootstrap bool
	// Resamples is the bootstrap's resample count (DefaultResamples, at
	// most MaxResamples).
	Resamples int
	// Alpha is the bootstrap's one-sided significance level (DefaultAlpha).
	Alpha float64
	// CopyBound is the Similarity above which a challenger is a near-copy
	// (DefaultCopyBound). A value of 1 or more flags nothing.
	CopyBound float64
}

func (r Rule) withDefaults() Rule {
	switch {
	case r.Margin == 0 || math.IsNaN(r.Margin) || math.IsInf(r.Margin, 0):
		r.Margin = DefaultMargin
	case r.Margin < 0:
		r.Margin = 0
	}
	if r.Resamples <= 0 {
		r.Resamples = DefaultResamples
	}
	r.Resamples = min(r.Resamples, MaxResamples)
	if r.Alpha <= 0 || r.Alpha >= 1 || math.IsNaN(r.Alpha) {
		r.Alpha = DefaultAlpha
	}
	if r.CopyBound <= 0 || math.IsNaN(r.CopyBound) {
		r.CopyBound = DefaultCopyBound
	}
	return r
}

// Decision is Crown's verdict.
type Decision struct {
	Crowned bool
	// Reason explains the verdict in one sentence for miners and logs.
	Reason string
	// NearCopy is set when the challenger's Similarity exceeds the
	// rule's CopyBound.
	NearCopy bool
	// Bar is the score the challenger needed: incumbent × (1 + margin).
	Bar float64
	// Bootstrapped is set when the bootstrap ran; Shared is then the
	// number of problems both were evaluated on, and PValue the one-sided
	// p-value of "the challenger is no better on them".
	Bootstrapped bool
	Shared       int
	PValue       float64
}

// Crown decides whether challenger takes the crown from incumbent (nil
// when there is none).
//
// A challenger that resolved nothing (score 0) is never crowned. Without
// an incumbent any other challenger is. Otherwise, with m the rule's
// margin, the challenger must satisfy
//
//	challenger.Score >= incumbent.Score × (1 + m)
//
// evaluated exactly in decimal: both scores and the margin are taken at
// their shortest decimal representation (strconv 'g', -1) and compared as
// rationals, so a score exactly at the bar counts as reaching it whatever
// binary rounding would say. With the default m = 0.015 and an incumbent
// at 0.5 the bar is 0.5075: 0.505 (1% better) stays out, 0.51 (2% better)
// takes the crown.
//
// A tie, equal scores (which can reach the bar only when the margin is
// 0), goes to the older agent: the challenger wins it only if it was
// created first (then by smaller ID). This fixes
// Ridges' dead 1.5% rule: the bar is the stored incumbent's score, not
// the current maximum.
//
// With rule.Bootstrap the gain must also be significant: over the
// problems in both Outcomes (paired), the mean difference challenger −
// incumbent is resampled Resamples times with replacement, and the
// challenger is crowned only if p = (1 + #{resampled mean ≤ 0}) /
// (Resamples + 1) < Alpha. The generator is seeded from SHA-256 of the
// two IDs, so a decision can be recomputed by anyone. No shared problems
// means no crown.
//
// A challenger whose Similarity exceeds CopyBound is flagged as a
// near-copy (of SimilarTo, the incumbent or an earlier agent) and held to
// a margin of at least DefaultMargin even when the rule's margin is lower
// or off: a copy cannot take the crown on a gain under the margin, and so
// never on a tie. A near-copy that clears the margin (and the bootstrap, when on) is
// crowned, with the flag in the reason: improving someone's agent by the
// margin is the contribution the league pays for, the flag keeps the
// lineage visible, and refusing it would let whoever uploads an idea first
// block every improvement built on it.
func Crown(incumbent *Entry, challenger Entry, rule Rule) Decision {
	rule = rule.withDefaults()
	d := Decision{NearCopy: challenger.Similarity > rule.CopyBound}
	copyNote := ""
	if d.NearCopy {
		copyNote = fmt.Sprintf(" (flagged as a near-copy of %s, similarity %.3f)", orUnknown(challenger.SimilarTo), challenger.Similarity)
	}
	if !validScore(challenger.Score) {
		d.Reason = fmt.Sprintf("%s has no valid score (%v)", challenger.ID, challenger.Score)
		return d
	}
	if incumbent == nil {
		d.Crowned = challenger.Score > 0
		if d.Crowned {
			d.Reason = fmt.Sprintf("%s takes the vacant crown with score %s%s", challenger.ID, fmtScore(challenger.Score), copyNote)
		} else {
			d.Reason = fmt.Sprintf("%s resolved nothing; the crown stays vacant%s", challenger.ID, copyNote)
		}
		return d
	}
	if !validScore(incumbent.Score) {
		d.Reason = fmt.Sprintf("incumbent %s has no valid stored score (%v)", incumbent.ID, incumbent.Score)
		return d
	}
	margin := rule.Margin
	if d.NearCopy && margin < DefaultMargin {
		margin = DefaultMargin
	}
	bar := barOf(incumbent.Score, margin)
	d.Bar, _ = bar.Float64()
	cmpBar := decimal(challenger.Score).Cmp(bar)
	cmpInc := decimal(challenger.Score).Cmp(decimal(incumbent.Score))
	need := fmt.Sprintf("needed ≥ %s × (1 + %s) = %s", fmtScore(incumbent.Score), fmtScore(margin), fmtScore(d.Bar))
	switch {
	case challenger.Score == 0:
		d.Reason = fmt.Sprintf("%s resolved nothing; %s keeps the crown%s", challenger.ID, incumbent.ID, copyNote)
		return d
	case cmpBar < 0:
		d.Reason = fmt.Sprintf("%s scored %s, short of the bar over incumbent %s (%s)%s",
			challenger.ID, fmtScore(challenger.Score), incumbent.ID, need, copyNote)
		return d
	case cmpInc == 0:
		// Reachable only with a zero margin, which a near-copy never
		// gets: ties are between originals.
		if !olderThan(challenger, *incumbent) {
			d.Reason = fmt.Sprintf("%s tied incumbent %s at %s; ties go to the older agent%s",
				challenger.ID, incumbent.ID, fmtScore(challenger.Score), copyNote)
			return d
		}
	}
	if rule.Bootstrap {
		d.Bootstrapped = true
		diffs := pairedDiffs(incumbent.Outcomes, challenger.Outcomes)
		d.Shared = len(diffs)
		if len(diffs) == 0 {
			d.Reason = fmt.Sprintf("%s cleared the bar (%s ≥ %s) but shares no evaluated problems with %s for the bootstrap%s",
				challenger.ID, fmtScore(challenger.Score), fmtScore(d.Bar), incumbent.ID, copyNote)
			return d
		}
		d.PValue = bootstrapP(diffs, rule.Resamples, seedOf(incumbent.ID, challenger.ID))
		if !(d.PValue < rule.Alpha) {
			d.Reason = fmt.Sprintf("%s cleared the bar (%s ≥ %s) but the gain over %s is not significant on %d shared problems (p = %.4f, alpha %s)%s",
				challenger.ID, fmtScore(challenger.Score), fmtScore(d.Bar), incumbent.ID, len(diffs), d.PValue, fmtScore(rule.Alpha), copyNote)
			return d
		}
	}
	d.Crowned = true
	how := fmt.Sprintf("%s ≥ %s", fmtScore(challenger.Score), fmtScore(d.Bar))
	if cmpInc == 0 {
		how = fmt.Sprintf("tie at %s, and it is the older agent", fmtScore(challenger.Score))
	}
	d.Reason = fmt.Sprintf("%s takes the crown from %s (%s)", challenger.ID, incumbent.ID, how)
	if d.Bootstrapped {
		d.Reason += fmt.Sprintf(", significant on %d shared problems (p = %.4f)", d.Shared, d.PValue)
	}
	d.Reason += copyNote
	return d
}

func validScore(s float64) bool { return !math.IsNaN(s) && s >= 0 && s <= 1 }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func orUnknown(s string) string {
	if s == "" {
		return "an earlier agent"
	}
	return s
}

func fmtScore(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// decimal returns x's shortest decimal representation as a rational.
func decimal(x float64) *big.Rat {
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(x, 'g', -1, 64))
	if !ok { // unreachable for finite x
		r = new(big.Rat).SetFloat64(x)
	}
	return r
}

// barOf is inc × (1 + m) in exact decimal arithmetic.
func barOf(inc, m float64) *big.Rat {
	bar := new(big.Rat).Add(big.NewRat(1, 1), decimal(m))
	return bar.Mul(bar, decimal(inc))
}

// olderThan orders by creation time, then ID, as the leaderboard does.
func olderThan(a, b Entry) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return a.ID < b.ID
}

// pairedDiffs returns challenger − incumbent per problem both have, in
// problem-id order so the bootstrap does not depend on map order.
func pairedDiffs(inc, ch map[string]float64) []float64 {
	ids := make([]string, 0, len(ch))
	for id, v := range ch {
		if w, ok := inc[id]; ok && finite(v) && finite(w) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := make([]float64, len(ids))
	for i, id := range ids {
		out[i] = ch[id] - inc[id]
	}
	return out
}

// seedOf derives the bootstrap's seed from the two IDs; the NUL keeps
// ("ab","c") and ("a","bc") apart.
func seedOf(incumbent, challenger string) [2]uint64 {
	h := sha256.Sum256([]byte(incumbent + "\x00" + challenger))
	return [2]uint64{binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:16])}
}

// bootstrapP is the one-sided paired-bootstrap p-value that the mean of
// diffs is not above 0: the share of resampled means ≤ 0, with the usual
// +1 correction so p is never 0.
func bootstrapP(diffs []float64, resamples int, seed [2]uint64) float64 {
	rng := rand.New(rand.NewPCG(seed[0], seed[1]))
	n := len(diffs)
	notBetter := 0
	for range resamples {
		sum := 0.0
		for range n {
			sum += diffs[rng.IntN(n)]
		}
		// Comparing the sum, not the mean, avoids a division whose
		// rounding could turn an exact 0 into a tiny non-zero.
		if sum <= 0 {
			notBetter++
		}
	}
	return float64(1+notBetter) / float64(resamples+1)
}
