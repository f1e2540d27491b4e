package agora_test

import (
	"testing"
	"time"

	"github.com/agoranet/agora"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func res(status string, metrics map[string]float64) *agora.Result {
	return &agora.Result{Status: status, ObservedMetrics: metrics}
}

// mc is a metric contract on "loss" in the given direction.
func mc(direction string) agora.MetricContract {
	// A scored task: the grader's score command, not the patched code,
	// reports the metric, so its results crown (Task.Crowns).
	return agora.MetricContract{ScoreCommand: "python3 score.py", MetricName: "loss", MetricDirection: direction}
}

func loss(x float64) map[string]float64 { return map[string]float64{"loss": x} }

func TestDecide(t *testing.T) {
	swe := &agora.Task{Kind: agora.TaskSWE}
	met := &agora.Task{Kind: agora.TaskMetric, MetricContract: agora.MetricContract{MetricName: "loss"}, Tolerance: 0.05}
	A, R, E := agora.ResultAccepted, agora.ResultRejected, agora.ResultError
	for _, tc := range []struct {
		name     string
		task     *agora.Task
		results  []*agora.Result
		status   string
		disputed bool
		metric   float64
	}{
		{"AllAccept", swe, []*agora.Result{res(A, nil), res(A, nil)}, agora.SubmissionAccepted, false, 0},
		{"Majority", swe, []*agora.Result{res(A, nil), res(A, nil), res(R, nil)}, agora.SubmissionAccepted, true, 0},
		{"TieRejects", swe, []*agora.Result{res(A, nil), res(R, nil)}, agora.SubmissionRejected, true, 0},
		{"ErrorsDoNotVote", swe, []*agora.Result{res(E, nil), res(R, nil)}, agora.SubmissionRejected, false, 0},
		{"OnlyErrors", swe, []*agora.Result{res(E, nil), res(E, nil)}, agora.SubmissionError, false, 0},
		{"NoResults", swe, nil, agora.SubmissionError, false, 0},
		{"MedianOdd", met, []*agora.Result{res(A, loss(1.0)), res(A, loss(1.02)), res(A, loss(1.01))}, agora.SubmissionAccepted, false, 1.01},
		{"MedianEven", met, []*agora.Result{res(A, loss(1.0)), res(A, loss(1.02))}, agora.SubmissionAccepted, false, 1.01},
		{"SpreadFlagged", met, []*agora.Result{res(A, loss(1.0)), res(A, loss(2.0)), res(A, loss(1.1))}, agora.SubmissionAccepted, true, 1.1},
		{"RejectsIgnoredInMedian", met, []*agora.Result{res(A, loss(1.0)), res(A, loss(1.0)), res(R, loss(9))}, agora.SubmissionAccepted, true, 1.0},
		{"MissingMetricIsError", met, []*agora.Result{res(A, map[string]float64{"other": 1})}, agora.SubmissionError, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := agora.Decide(tc.task, tc.results, t0)
			if v.Status != tc.status || v.Disputed != tc.disputed {
				t.Fatalf("Status=%s Disputed=%v (%s), want %s %v", v.Status, v.Disputed, v.DisputeReason, tc.status, tc.disputed)
			}
			if tc.metric != 0 && v.Metrics["loss"] != tc.metric {
				t.Fatalf("loss=%v, want %v", v.Metrics["loss"], tc.metric)
			}
		})
	}
}

func sub(id, miner string, at int, metrics map[string]float64) *agora.Submission {
	return &agora.Submission{ID: id, Miner: miner, Status: agora.SubmissionAccepted, CreatedAt: t0.Add(time.Duration(at) * time.Second),
		Verdict: &agora.Verdict{Status: agora.SubmissionAccepted, Metrics: metrics}}
}

func TestBeats(t *testing.T) {
	min := &agora.Task{Kind: agora.TaskMetric, MetricContract: mc(agora.Minimize), ImprovementThreshold: 0.01}
	max := &agora.Task{Kind: agora.TaskMetric, MetricContract: mc(agora.Maximize), NoiseMargin: 0.5}
	pareto := &agora.Task{Kind: agora.TaskMetric, ImprovementThreshold: 0.01, MetricContract: agora.MetricContract{MetricName: "loss",
		MetricDirection: agora.Minimize, RankingMode: agora.RankingPareto, SecondaryMetricName: "size", SecondaryMetricDirection: agora.Minimize}}
	both := func(l, s float64) map[string]float64 { return map[string]float64{"loss": l, "size": s} }
	for _, tc := range []struct {
		name string
		task *agora.Task
		c, i map[string]float64
		want bool
	}{
		{"ClearGain", min, loss(0.9), loss(1.0), true},
		{"InsideThreshold", min, loss(0.995), loss(1.0), false},
		{"JustPastThreshold", min, loss(0.989), loss(1.0), true},
		{"Tie", min, loss(1.0), loss(1.0), false},
		{"Worse", min, loss(1.1), loss(1.0), false},
		{"MaxInsideNoise", max, loss(10.4), loss(10.0), false},
		{"MaxPastNoise", max, loss(10.6), loss(10.0), true},
		{"ParetoSmallerInsideBand", pareto, both(1.005, 10), both(1.0, 20), true},
		{"ParetoSmallerButWorse", pareto, both(1.05, 10), both(1.0, 20), false},
		{"ParetoSameSize", pareto, both(1.0, 20), both(1.0, 20), false},
		{"NoIncumbentMetric", min, loss(1.0), map[string]float64{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := agora.Beats(tc.task, sub("c", "a", 2, tc.c), sub("i", "b", 1, tc.i)); got != tc.want {
				t.Fatalf("Beats=%v, want %v", got, tc.want)
			}
		})
	}
}

func TestRankTask(t *testing.T) {
	met := &agora.Task{ID: "t", Kind: agora.TaskMetric, MetricContract: mc(agora.Minimize), ImprovementThreshold: 0.05}
	t.Run("ThresholdAndTies", func(t *testing.T) {
		subs := []*agora.Submission{
			sub("s3", "carol", 3, loss(1.5)), // beats alice's 2.0 → best
			sub("s1", "alice", 1, loss(2.0)),
			sub("s2", "bob", 2, loss(1.95)), // within 5%: not best
			sub("s4", "dave", 4, loss(1.5)), // ties carol: earlier keeps it
			sub("s5", "bob", 5, loss(1.45)), // within 5% of 1.5: not best, but bob's best value
			{ID: "s6", Miner: "eve", Status: agora.SubmissionRejected, CreatedAt: t0},
		}
		b := agora.RankTask(met, subs)
		if b.Best == nil || b.Best.SubmissionID != "s3" {
			t.Fatalf("best=%+v, want s3", b.Best)
		}
		var order []string
		for _, s := range b.Standings {
			order = append(order, s.SubmissionID)
		}
		want := []string{"s3", "s5", "s4", "s1"}
		if len(order) != len(want) {
			t.Fatalf("order=%v, want %v", order, want)
		}
		for i := range want {
			if order[i] != want[i] || b.Standings[i].Rank != i+1 {
				t.Fatalf("order=%v, want %v", order, want)
			}
		}
	})
	t.Run("SWEFirstResolverWins", func(t *testing.T) {
		swe := &agora.Task{ID: "t", Kind: agora.TaskSWE}
		b := agora.RankTask(swe, []*agora.Submission{sub("late", "bob", 9, nil), sub("early", "alice", 1, nil), sub("again", "alice", 5, nil)})
		if b.Best.SubmissionID != "early" || len(b.Standings) != 2 || b.Standings[1].Miner != "bob" {
			t.Fatalf("board: %+v", b.Standings)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		if b := agora.RankTask(met, nil); b.Best != nil || len(b.Standings) != 0 {
			t.Fatal("an empty task has no best")
		}
	})
	t.Run("SelfReportedCrownsNobody", func(t *testing.T) {
		subs := []*agora.Submission{sub("a", "alice", 1, loss(2)), sub("b", "bob", 2, loss(0))}
		self := *met
		self.ScoreCommand = ""
		b := agora.RankTask(&self, subs)
		if b.Best != nil || !b.SelfReported || len(b.Standings) != 2 || b.Standings[0].Miner != "bob" || b.Standings[0].Best {
			t.Fatalf("self-reported board: best %+v self_reported %v standings %+v", b.Best, b.SelfReported, b.Standings)
		}
		if got := agora.RankCompetition([]*agora.TaskBoard{b}); got[0].Wins != 0 || got[1].Wins != 0 {
			t.Fatalf("competition wins from a self-reported task: %+v %+v", got[0], got[1])
		}
		self.PaySelfReported = true
		if b := agora.RankTask(&self, subs); b.Best == nil || b.Best.Miner != "bob" || b.SelfReported {
			t.Fatalf("opted in: best %+v self_reported %v", b.Best, b.SelfReported)
		}
	})
	t.Run("Competition", func(t *testing.T) {
		b1 := agora.RankTask(met, []*agora.Submission{sub("a", "alice", 1, loss(1)), sub("b", "bob", 2, loss(0.5))})
		b2 := agora.RankTask(&agora.Task{Kind: agora.TaskSWE}, []*agora.Submission{sub("c", "alice", 1, nil), sub("d", "bob", 3, nil)})
		got := agora.RankCompetition([]*agora.TaskBoard{b1, b2})
		// One win each, two accepted each: alice got there first.
		if len(got) != 2 || got[0].Miner != "alice" || got[0].Wins != 1 || got[1].Wins != 1 {
			t.Fatalf("competition: %+v %+v", got[0], got[1])
		}
	})
}

func TestNewIDOrdered(t *testing.T) {
	a, b := agora.NewID(t0), agora.NewID(t0.Add(time.Millisecond))
	if !(a < b) || len(a) != 36 || a[14] != '7' {
		t.Fatalf("ids %s %s", a, b)
	}
}
