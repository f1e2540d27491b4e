package agora_test

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/agoranet/agora"
)

func crown(task, sub, miner string, gain float64, at int) agora.Crowning {
	return agora.Crowning{TaskID: task, SubmissionID: sub, Miner: miner, Gain: gain, At: t0.Add(time.Duration(at) * time.Hour)}
}

func TestCrownings(t *testing.T) {
	met := &agora.Task{ID: "t", Kind: agora.TaskMetric, MetricContract: mc(agora.Minimize), ImprovementThreshold: 0.05}
	got := agora.Crownings(met, []*agora.Submission{
		sub("s1", "alice", 1, loss(2.0)),
		sub("s2", "bob", 2, loss(1.95)), // inside the threshold: no crowning
		sub("s3", "carol", 3, loss(1.0)),
		sub("s4", "dave", 4, loss(1.0)), // tie: no crowning
	})
	if len(got) != 2 || got[0].Miner != "alice" || got[0].Gain != 1 || got[1].Miner != "carol" || got[1].Gain != 0.5 {
		t.Fatalf("crownings: %+v", got)
	}
	// A self-reported task (no score command) crowns nobody, so it pays
	// nobody, unless its owner opted in.
	self := *met
	self.ScoreCommand = ""
	subs := []*agora.Submission{sub("s1", "alice", 1, loss(2.0)), sub("s3", "carol", 3, loss(1.0))}
	if got := agora.Crownings(&self, subs); len(got) != 0 {
		t.Fatalf("self-reported crownings: %+v", got)
	}
	self.PaySelfReported = true
	if got := agora.Crownings(&self, subs); len(got) != 2 {
		t.Fatalf("opted-in self-reported crownings: %+v", got)
	}
	swe := &agora.Task{ID: "s", Kind: agora.TaskSWE}
	if got := agora.Crownings(swe, []*agora.Submission{sub("b", "bob", 2, nil), sub("a", "alice", 1, nil)}); len(got) != 1 || got[0].Miner != "alice" {
		t.Fatalf("swe crownings: %+v", got)
	}
}

func TestComputeSnapshot(t *testing.T) {
	day := 24 * time.Hour
	crownings := map[string][]agora.Crowning{
		"wta":  {crown("t1", "a", "alice", 1, 1), crown("t2", "b", "bob", 1, 2), crown("t3", "c", "bob", 1, 3), crown("t1", "late", "carol", 1, 30)},
		"prop": {crown("t4", "d", "alice", 0.3, 1), crown("t4", "e", "bob", 0.1, 2), crown("t4", "f", "carol", 0.2, 5)},
	}
	policies := []agora.RewardPolicy{
		{Competition: "wta", Mode: agora.RewardWinnerTakesAll, Budget: 1000},
		{Competition: "prop", Mode: agora.RewardProportional, Budget: 1001},
		{Competition: "idle", Mode: agora.RewardProportional, Budget: 500, CarryForward: true},
	}
	e1, err := agora.ComputeSnapshot(agora.EpochInput{Epoch: 1, From: t0, To: t0.Add(day), Policies: policies, Crownings: crownings})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"alice": 500, "bob": 1000 + 167, "carol": 334} // 1001 × (0.3, 0.1, 0.2)/0.6: floors 500, 166, 333; the two left go to the largest remainders (bob .83, carol .67)
	if len(e1.Payouts) != 3 {
		t.Fatalf("payouts: %+v", e1.Payouts)
	}
	var total uint64
	for _, p := range e1.Payouts {
		if p.Amount != want[p.Hotkey] || p.Cumulative != p.Amount {
			t.Errorf("%s: %d (cumulative %d), want %d", p.Hotkey, p.Amount, p.Cumulative, want[p.Hotkey])
		}
		total += p.Amount
	}
	if total != 2001 {
		t.Fatalf("paid %d, want exactly the two spent budgets (2001)", total)
	}
	for _, c := range e1.Competitions {
		if c.Policy.Competition == "idle" && (c.Spent != 0 || c.Carried != 500) {
			t.Fatalf("idle: %+v", c)
		}
	}
	// Epoch 2: carol's late crowning pays, the idle budget carried in is
	// spent by nobody again and grows, and amounts accumulate.
	crownings["idle"] = nil
	e2, err := agora.ComputeSnapshot(agora.EpochInput{Epoch: 2, From: t0.Add(day), To: t0.Add(2 * day), Policies: policies, Crownings: crownings, Previous: e1})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range e2.Payouts {
		switch p.Hotkey {
		case "carol":
			if p.Amount != 1000 || p.Cumulative != 1334 {
				t.Errorf("carol: %+v", p)
			}
		case "alice", "bob":
			if p.Amount != 0 || p.Cumulative != want[p.Hotkey] {
				t.Errorf("%s: %+v", p.Hotkey, p)
			}
		}
	}
	for _, c := range e2.Competitions {
		if c.Policy.Competition == "idle" && (c.Available != 1000 || c.Carried != 1000) {
			t.Fatalf("carried budget: %+v", c)
		}
	}
	t.Run("Deterministic", func(t *testing.T) {
		b1, h1, _ := e1.Encode()
		for i := 0; i < 20; i++ {
			shuffled := map[string][]agora.Crowning{}
			for k, v := range crownings {
				c := append([]agora.Crowning(nil), v...)
				rand.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
				shuffled[k] = c
			}
			shuffled["idle"] = nil
			ps := append([]agora.RewardPolicy(nil), policies...)
			rand.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
			again, err := agora.ComputeSnapshot(agora.EpochInput{Epoch: 1, From: t0, To: t0.Add(day), Policies: ps, Crownings: shuffled})
			if err != nil {
				t.Fatal(err)
			}
			b2, h2, _ := again.Encode()
			if h1 != h2 || !bytes.Equal(b1, b2) {
				t.Fatalf("same inputs, different snapshot:\n%s\n%s", b1, b2)
			}
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for _, in := range []agora.EpochInput{
			{Epoch: 1, From: t0, To: t0},
			{Epoch: 1, From: t0, To: t0.Add(day), Policies: []agora.RewardPolicy{{Competition: "x", Mode: "lottery"}}},
			{Epoch: 1, From: t0, To: t0.Add(day), Policies: []agora.RewardPolicy{{Competition: "x", Mode: agora.RewardProportional}, {Competition: "x", Mode: agora.RewardProportional}}},
			{Epoch: 1, From: t0, To: t0.Add(day), Policies: []agora.RewardPolicy{{Competition: "x", Mode: agora.RewardProportional, Budget: 1 << 60}}},
			{Epoch: 1, From: t0, To: t0.Add(day), Previous: e1},
		} {
			if _, err := agora.ComputeSnapshot(in); agora.ErrorCode(err) != agora.EINVALID {
				t.Errorf("%+v: %v, want EINVALID", in.Policies, err)
			}
		}
	})
}
