package agora_test

import (
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
)

func targets(t *testing.T, specs ...string) *agora.WeightPolicy {
	t.Helper()
	p := &agora.WeightPolicy{}
	for _, s := range specs {
		wt, err := agora.ParseWeightTarget(s)
		if err != nil {
			t.Fatalf("ParseWeightTarget(%q): %v", s, err)
		}
		if wt.String() != s {
			t.Fatalf("String() = %q, want %q", wt.String(), s)
		}
		p.Targets = append(p.Targets, wt)
	}
	return p
}

func TestWeightPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		specs []string
		err   string // "" means valid
	}{
		{[]string{"uid:0=0.5", "hotkey:5Contract=0.5"}, ""},
		{[]string{"uid:0=0.2", "hotkey:5Contract=0.3", "miners=0.5"}, ""},
		{[]string{"uid:0=0.333333333333", "uid:1=0.333333333333", "uid:2=0.333333333334"}, ""},
		{[]string{"uid:0=0.5", "hotkey:5Contract=0.4"}, "shares sum to 0.9, not 1"},
		{[]string{"uid:0=0.7", "miners=0.7"}, "shares sum to 1.4"},
		{[]string{"uid:0=0.5", "uid:0=0.5"}, "uid:0 appears twice"},
		{[]string{"uid:0=1", "miners=0"}, "targets[1] (miners=0): share must be in (0, 1]"},
		{nil, "no targets"},
	} {
		p := &agora.WeightPolicy{}
		if tc.specs != nil {
			p = targets(t, tc.specs...)
		}
		err := p.Validate()
		if tc.err == "" {
			if err != nil {
				t.Errorf("%v: %v", tc.specs, err)
			}
			continue
		}
		if agora.ErrorCode(err) != agora.EINVALID || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: got %v, want EINVALID with %q", tc.specs, err, tc.err)
		}
	}
}

func TestParseWeightTargetErrors(t *testing.T) {
	for _, s := range []string{"uid:0", "uid:x=1", "uid:70000=1", "team:x=1", "miners:x=1", "uid:0=abc"} {
		if _, err := agora.ParseWeightTarget(s); agora.ErrorCode(err) != agora.EINVALID || !strings.Contains(err.Error(), s) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func TestWeightPolicyResolve(t *testing.T) {
	uids := map[string]uint16{"5Contract": 7, "alice": 3, "bob": 4}
	uidOf := func(hk string) (uint16, bool) { u, ok := uids[hk]; return u, ok }
	payouts := []agora.Payout{{Hotkey: "alice", Amount: 300}, {Hotkey: "bob", Amount: 100}, {Hotkey: "ghost", Amount: 600}, {Hotkey: "idle", Amount: 0}}
	p := targets(t, "uid:0=0.2", "hotkey:5Contract=0.3", "miners=0.5")
	got, notes, err := p.Resolve(payouts, uidOf)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint16]float64{0: 0.2, 3: 0.375, 4: 0.125, 7: 0.3}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i, r := range got {
		if i > 0 && got[i-1].UID >= r.UID {
			t.Fatalf("not sorted by uid: %+v", got)
		}
		if w := want[r.UID]; w != r.Weight || r.Why == "" {
			t.Errorf("uid %d: weight %v (%q), want %v", r.UID, r.Weight, r.Why, w)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "ghost") {
		t.Errorf("notes: %q", notes)
	}

	// The contract hotkey moved to UID 9: resolution follows the metagraph.
	uids["5Contract"] = 9
	got, _, _ = p.Resolve(payouts, uidOf)
	if got[len(got)-1].UID != 9 {
		t.Errorf("re-registered contract hotkey not followed: %+v", got)
	}

	// A target hotkey that is not registered is an error, never a lost share.
	delete(uids, "5Contract")
	if _, _, err := p.Resolve(payouts, uidOf); agora.ErrorCode(err) != agora.ENOTFOUND || !strings.Contains(err.Error(), "5Contract") {
		t.Errorf("unregistered target: %v", err)
	}

	// Nobody registered earned anything: the miners share is not set.
	uids["5Contract"] = 7
	got, notes, err = p.Resolve(nil, uidOf)
	if err != nil || len(got) != 2 || len(notes) != 1 {
		t.Errorf("no payouts: %+v %q %v", got, notes, err)
	}
	// A UID named twice adds up.
	p2 := targets(t, "uid:7=0.5", "hotkey:5Contract=0.5")
	if got, _, _ := p2.Resolve(nil, uidOf); len(got) != 1 || got[0].Weight != 1 {
		t.Errorf("same uid twice: %+v", got)
	}
}

func TestSnapshotBudgetWeightsAndPolicy(t *testing.T) {
	crownings := map[string][]agora.Crowning{
		"a": {crown("t1", "s1", "alice", 1, 1)},
		"b": {crown("t2", "s2", "bob", 1, 1)},
		"c": {crown("t3", "s3", "carol", 1, 1)},
	}
	policies := []agora.RewardPolicy{
		{Competition: "a", Mode: agora.RewardWinnerTakesAll, Weight: 1},
		{Competition: "b", Mode: agora.RewardWinnerTakesAll, Weight: 2},
		{Competition: "c", Mode: agora.RewardWinnerTakesAll, Budget: 5},
	}
	wp := targets(t, "uid:0=0.5", "miners=0.5")
	in := agora.EpochInput{Epoch: 1, From: t0, To: t0.Add(24 * time.Hour), Policies: policies, Crownings: crownings, Budget: 1000, WeightPolicy: wp}
	snap, err := agora.ComputeSnapshot(in)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, p := range snap.Payouts {
		got[p.Hotkey] = p.Amount
	}
	// 1000 split 1:2 exactly (333 + 667), plus c's fixed 5.
	if got["alice"] != 333 || got["bob"] != 667 || got["carol"] != 5 {
		t.Errorf("payouts %v", got)
	}
	if snap.WeightPolicy == nil || len(snap.WeightPolicy.Targets) != 2 || snap.Budget != 1000 {
		t.Errorf("snapshot lost its inputs: %+v", snap)
	}
	wp.Targets[0].Share = 0.9 // the snapshot keeps its own copy
	if snap.WeightPolicy.Targets[0].Share != 0.5 {
		t.Error("snapshot shares the caller's policy")
	}

	for name, mut := range map[string]func(in *agora.EpochInput){
		"no budget": func(in *agora.EpochInput) { in.Budget = 0 },
		"weight+budget": func(in *agora.EpochInput) {
			in.Policies = []agora.RewardPolicy{{Competition: "a", Mode: agora.RewardProportional, Weight: 1, Budget: 3}}
		},
		"negative weight": func(in *agora.EpochInput) {
			in.Policies = []agora.RewardPolicy{{Competition: "a", Mode: agora.RewardProportional, Weight: -1}}
		},
		"bad weight shares": func(in *agora.EpochInput) { in.WeightPolicy = &agora.WeightPolicy{Targets: wp.Targets[:1]} },
	} {
		bad := in
		bad.WeightPolicy = targets(t, "uid:0=0.5", "miners=0.5")
		mut(&bad)
		if _, err := agora.ComputeSnapshot(bad); agora.ErrorCode(err) != agora.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseRewardPolicy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want agora.RewardPolicy
		err  string // "" means valid
	}{
		{"c1:winner_takes_all:50", agora.RewardPolicy{Competition: "c1", Mode: "winner_takes_all", Budget: 50}, ""},
		{"c1:proportional:w=2:carry", agora.RewardPolicy{Competition: "c1", Mode: "proportional", Weight: 2, CarryForward: true}, ""},
		{"c1:proportional:0", agora.RewardPolicy{Competition: "c1", Mode: "proportional"}, ""},
		// Form only: the mode is Validate's business.
		{"c1:lottery:5", agora.RewardPolicy{Competition: "c1", Mode: "lottery", Budget: 5}, ""},
		{"c1:proportional", agora.RewardPolicy{}, "want competition:mode:budget[:carry]"},
		{"c1:proportional:5:keep", agora.RewardPolicy{}, "want competition:mode:budget[:carry]"},
		{"c1:proportional:5:carry:x", agora.RewardPolicy{}, "want competition:mode:budget[:carry]"},
		{"c1:proportional:lots", agora.RewardPolicy{}, `budget "lots" is not a whole number`},
		{"c1:proportional:-1", agora.RewardPolicy{}, `budget "-1" is not a whole number`},
		{"c1:proportional:w=-1", agora.RewardPolicy{}, `weight "-1" is not a positive number`},
		{"c1:proportional:w=0", agora.RewardPolicy{}, `weight "0" is not a positive number`},
		{"c1:proportional:w=x", agora.RewardPolicy{}, `weight "x" is not a positive number`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := agora.ParseRewardPolicy(tc.in)
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("ParseRewardPolicy=%+v, %v, want %+v", got, err, tc.want)
				}
				return
			}
			if agora.ErrorCode(err) != agora.EINVALID || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.in) {
				t.Fatalf("err=%v, want EINVALID naming %q and containing %q", err, tc.in, tc.err)
			}
		})
	}
}
