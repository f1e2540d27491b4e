package agora

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"sort"
	"time"
)

// Standing is one miner's place on a task's leaderboard.
type Standing struct {
	Rank         int       `json:"rank"`
	Miner        string    `json:"miner_hotkey"`
	SubmissionID string    `json:"submission_id"`
	Metric       *float64  `json:"metric,omitempty"`
	Secondary    *float64  `json:"secondary_metric,omitempty"`
	Best         bool      `json:"best"`
	SubmittedAt  time.Time `json:"submitted_at"`
}

// TaskBoard is a task's best result and leaderboard.
type TaskBoard struct {
	TaskID string    `json:"task_id"`
	Best   *Standing `json:"best,omitempty"`
	// SelfReported says the standings come from metrics the patched code
	// reported itself, so nobody holds the best result (Task.Crowns).
	SelfReported bool        `json:"self_reported,omitempty"`
	Standings    []*Standing `json:"standings"`
}

// earlier orders submissions by time, then id (ids are time-ordered too),
// so ties go to the earlier submission.
func earlier(a, b *Submission) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return a.ID < b.ID
}

func metricOf(s *Submission, name string) (float64, bool) {
	if s.Verdict == nil || name == "" {
		return 0, false
	}
	x, ok := s.Verdict.Metrics[name]
	return x, ok
}

// better reports whether a is strictly better than b in direction dir.
func better(dir string, a, b float64) bool {
	if dir == Maximize {
		return a > b
	}
	return a < b
}

// Beats reports whether challenger takes the best result from incumbent on
// a metric task. The primary metric must improve by more than the band
// (ImprovementThreshold relative to the incumbent, plus NoiseMargin); with
// Pareto ranking, a challenger inside the band that is strictly better on
// the secondary metric also wins. Anything else, exact ties included, keeps
// the incumbent: the earlier submission wins.
func Beats(t *Task, challenger, incumbent *Submission) bool {
	c, ok1 := metricOf(challenger, t.MetricName)
	i, ok2 := metricOf(incumbent, t.MetricName)
	if !ok1 || !ok2 {
		return ok1 && !ok2
	}
	gain := c - i
	if t.MetricDirection != Maximize {
		gain = i - c
	}
	band := t.ImprovementThreshold*math.Abs(i) + t.NoiseMargin
	if gain > band {
		return true
	}
	if t.RankingMode == RankingPareto && gain >= -band {
		cs, ok1 := metricOf(challenger, t.SecondaryMetricName)
		is, ok2 := metricOf(incumbent, t.SecondaryMetricName)
		return ok1 && ok2 && better(t.SecondaryMetricDirection, cs, is)
	}
	return false
}

// RankTask computes a task's best result and leaderboard from its
// submissions. Only accepted verdicts count. For swe tasks the best is the
// earliest resolving submission and miners rank by when they first resolved
// it. For metric tasks accepted submissions are taken in submission order
// and each replaces the best only if it Beats it; the best holder ranks
// first, then every other miner by their best value, earlier first on ties.
// A task that does not crown (Task.Crowns: self-reported, not opted in) is
// ranked the same way, but nobody holds its best result.
func RankTask(t *Task, subs []*Submission) *TaskBoard {
	acc := make([]*Submission, 0, len(subs))
	for _, s := range subs {
		if s.Status == SubmissionAccepted && s.Verdict != nil {
			acc = append(acc, s)
		}
	}
	sort.Slice(acc, func(i, j int) bool { return earlier(acc[i], acc[j]) })
	crowns := t.Crowns()
	board := &TaskBoard{TaskID: t.ID, SelfReported: !crowns, Standings: []*Standing{}}
	if len(acc) == 0 {
		return board
	}
	var best *Submission
	for _, s := range acc {
		if crowns && (best == nil || (t.Kind == TaskMetric && Beats(t, s, best))) {
			best = s
		}
	}
	// One entry per miner: their best submission (by value for metric
	// tasks, the first for swe), ties to the earlier one.
	mine := map[string]*Submission{}
	for _, s := range acc {
		cur, ok := mine[s.Miner]
		if !ok {
			mine[s.Miner] = s
			continue
		}
		if t.Kind == TaskMetric {
			a, _ := metricOf(s, t.MetricName)
			b, _ := metricOf(cur, t.MetricName)
			if better(t.MetricDirection, a, b) {
				mine[s.Miner] = s
			}
		}
	}
	if best != nil {
		mine[best.Miner] = best
	}
	entries := make([]*Submission, 0, len(mine))
	for _, s := range mine {
		entries = append(entries, s)
	}
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if (a == best) != (b == best) {
			return a == best
		}
		if t.Kind == TaskMetric {
			x, _ := metricOf(a, t.MetricName)
			y, _ := metricOf(b, t.MetricName)
			if x != y {
				return better(t.MetricDirection, x, y)
			}
		}
		return earlier(a, b)
	})
	for i, s := range entries {
		st := &Standing{Rank: i + 1, Miner: s.Miner, SubmissionID: s.ID, Best: s == best, SubmittedAt: s.CreatedAt}
		if x, ok := metricOf(s, t.MetricName); ok {
			st.Metric = &x
		}
		if x, ok := metricOf(s, t.SecondaryMetricName); ok {
			st.Secondary = &x
		}
		board.Standings = append(board.Standings, st)
		if s == best {
			board.Best = st
		}
	}
	return board
}

// CompetitionStanding is one miner's place across a competition's tasks.
type CompetitionStanding struct {
	Rank     int       `json:"rank"`
	Miner    string    `json:"miner_hotkey"`
	Wins     int       `json:"wins"`     // tasks where the miner holds the best result
	Accepted int       `json:"accepted"` // tasks where the miner has an accepted submission
	First    time.Time `json:"first_accepted_at"`
}

// RankCompetition combines task boards: most best results first, then most
// tasks with an accepted submission, then whoever got there first.
func RankCompetition(boards []*TaskBoard) []*CompetitionStanding {
	by := map[string]*CompetitionStanding{}
	for _, b := range boards {
		for _, s := range b.Standings {
			c := by[s.Miner]
			if c == nil {
				c = &CompetitionStanding{Miner: s.Miner, First: s.SubmittedAt}
				by[s.Miner] = c
			}
			c.Accepted++
			if s.Best {
				c.Wins++
			}
			if s.SubmittedAt.Before(c.First) {
				c.First = s.SubmittedAt
			}
		}
	}
	out := make([]*CompetitionStanding, 0, len(by))
	for _, c := range by {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Wins != b.Wins:
			return a.Wins > b.Wins
		case a.Accepted != b.Accepted:
			return a.Accepted > b.Accepted
		case !a.First.Equal(b.First):
			return a.First.Before(b.First)
		}
		return a.Miner < b.Miner
	})
	for i, c := range out {
		c.Rank = i + 1
	}
	return out
}

// NewID returns a time-ordered UUID (version 7): ids sort by creation time,
// which keeps "earlier wins" stable even for equal timestamps.
func NewID(now time.Time) string {
	var b [16]byte
	rand.Read(b[:])
	ms := uint64(now.UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = 0x70 | (b[6] & 0x0f)
	b[8] = 0x80 | (b[8] & 0x3f)
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
