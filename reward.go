package agora

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"
)

// Reward policy modes.
const (
	RewardWinnerTakesAll = "winner_takes_all"
	RewardProportional   = "proportional"
)

// MaxRewardBudget bounds a budget so shares computed in float64 stay exact
// to the unit (2^53).
const MaxRewardBudget = 1 << 53

// RewardPolicy says how one competition's budget for an epoch is shared.
type RewardPolicy struct {
	Competition string `json:"competition"`
	Mode        string `json:"mode"`
	// Budget is the competition's share of an epoch, in integer units
	// (e.g. rao), so amounts add up exactly.
	Budget uint64 `json:"budget"`
	// Weight, instead of a fixed Budget, gives the competition this share
	// of the epoch's budget (EpochInput.Budget) relative to the other
	// weighted competitions.
	Weight float64 `json:"weight,omitempty"`
	// CarryForward keeps a budget nobody earned for the next epoch
	// instead of letting it lapse.
	CarryForward bool `json:"carry_forward,omitempty"`
}

// Validate returns EINVALID naming the field.
func (p *RewardPolicy) Validate() error {
	switch {
	case p.Competition == "":
		return Errorf(EINVALID, "competition: required")
	case p.Mode != RewardWinnerTakesAll && p.Mode != RewardProportional:
		return Errorf(EINVALID, "mode: must be %s or %s", RewardWinnerTakesAll, RewardProportional)
	case p.Budget > MaxRewardBudget:
		return Errorf(EINVALID, "budget: at most %d units", uint64(MaxRewardBudget))
	case math.IsNaN(p.Weight) || math.IsInf(p.Weight, 0) || p.Weight < 0:
		return Errorf(EINVALID, "weight: must be a finite number >= 0")
	case p.Weight > 0 && p.Budget > 0:
		return Errorf(EINVALID, "budget and weight: set one, not both")
	}
	return nil
}

// Crowning is one time a submission took a task's best result, with the
// gain it brought (relative to the incumbent; 1 for the first).
type Crowning struct {
	TaskID       string    `json:"task_id"`
	SubmissionID string    `json:"submission_id"`
	Miner        string    `json:"miner_hotkey"`
	Gain         float64   `json:"gain"`
	At           time.Time `json:"at"`
}

// Crownings replays a task's accepted submissions in order and returns
// each change of best result, as RankTask decides it. For swe tasks only
// the first resolver is crowned; a task that does not crown (Task.Crowns:
// self-reported, not opted in) has no crownings, so it pays nobody.
func Crownings(t *Task, subs []*Submission) []Crowning {
	if !t.Crowns() {
		return nil
	}
	acc := make([]*Submission, 0, len(subs))
	for _, s := range subs {
		if s.Status == SubmissionAccepted && s.Verdict != nil {
			acc = append(acc, s)
		}
	}
	sort.Slice(acc, func(i, j int) bool { return earlier(acc[i], acc[j]) })
	var out []Crowning
	var best *Submission
	// A crowning counts when its verdict confirmed it, so progress decided
	// after an epoch closed is paid in the next one.
	at := func(s *Submission) time.Time {
		if !s.Verdict.DecidedAt.IsZero() {
			return s.Verdict.DecidedAt
		}
		return s.CreatedAt
	}
	for _, s := range acc {
		switch {
		case best == nil:
			out = append(out, Crowning{t.ID, s.ID, s.Miner, 1, at(s)})
			best = s
		case t.Kind == TaskMetric && Beats(t, s, best):
			c, _ := metricOf(s, t.MetricName)
			i, _ := metricOf(best, t.MetricName)
			gain := math.Abs(c-i) / math.Max(math.Abs(i), 1e-12)
			out = append(out, Crowning{t.ID, s.ID, s.Miner, gain, at(s)})
			best = s
		}
	}
	return out
}

// Payout is what one hotkey earned in an epoch and in total.
type Payout struct {
	Hotkey     string `json:"hotkey"`
	Amount     uint64 `json:"amount"`
	Cumulative uint64 `json:"cumulative"`
}

// CompetitionReward records how a competition's budget was spent.
type CompetitionReward struct {
	Policy    RewardPolicy `json:"policy"`
	Available uint64       `json:"available"` // budget plus what was carried in
	Spent     uint64       `json:"spent"`
	Carried   uint64       `json:"carried"` // to the next epoch
	Crownings []Crowning   `json:"crownings"`
}

// RewardSnapshot is an epoch's frozen outcome: per-hotkey amounts and the
// inputs they came from.
type RewardSnapshot struct {
	Epoch int       `json:"epoch"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	// Budget is the epoch budget shared among weighted competitions.
	Budget       uint64              `json:"budget,omitempty"`
	Competitions []CompetitionReward `json:"competitions"`
	Payouts      []Payout            `json:"payouts"`
	// WeightPolicy is how validators turn this epoch into chain weights.
	WeightPolicy *WeightPolicy `json:"weight_policy,omitempty"`
}

// EpochInput is what an epoch's snapshot is computed from.
type EpochInput struct {
	Epoch    int
	From, To time.Time
	Policies []RewardPolicy
	// Budget is shared among the policies that set a Weight, in
	// proportion to their weights.
	Budget uint64
	// WeightPolicy, if set, is validated and frozen into the snapshot.
	WeightPolicy *WeightPolicy
	// Crownings by competition, all time; only those in [From, To) pay.
	Crownings map[string][]Crowning
	// Previous is the last epoch's snapshot, for carried budgets and
	// cumulative amounts; nil for the first epoch.
	Previous *RewardSnapshot
}

// ComputeSnapshot shares each competition's budget among the crownings of
// the epoch: all of it to the miner with the most crownings (ties to the
// earliest) under winner_takes_all, or in proportion to the gains under
// proportional, with integer amounts that add up exactly (largest
// remainder, ties to the smaller hotkey). The same input gives the same
// snapshot, byte for byte.
func ComputeSnapshot(in EpochInput) (*RewardSnapshot, error) {
	if !in.From.Before(in.To) {
		return nil, Errorf(EINVALID, "epoch %d: from %s is not before to %s", in.Epoch, in.From, in.To)
	}
	snap := &RewardSnapshot{Epoch: in.Epoch, From: in.From.UTC(), To: in.To.UTC(), Budget: in.Budget, Competitions: []CompetitionReward{}, Payouts: []Payout{}}
	if in.Budget > MaxRewardBudget {
		return nil, Errorf(EINVALID, "epoch budget: at most %d units", uint64(MaxRewardBudget))
	}
	if in.WeightPolicy != nil {
		if err := in.WeightPolicy.Validate(); err != nil {
			return nil, err
		}
		wp := *in.WeightPolicy
		wp.Targets = append([]WeightTarget(nil), wp.Targets...)
		snap.WeightPolicy = &wp
	}
	carriedIn := map[string]uint64{}
	cumulative := map[string]uint64{}
	if p := in.Previous; p != nil {
		if p.Epoch >= in.Epoch {
			return nil, Errorf(EINVALID, "epoch %d: previous snapshot is epoch %d", in.Epoch, p.Epoch)
		}
		for _, c := range p.Competitions {
			carriedIn[c.Policy.Competition] = c.Carried
		}
		for _, po := range p.Payouts {
			cumulative[po.Hotkey] = po.Cumulative
		}
	}
	policies := append([]RewardPolicy(nil), in.Policies...)
	sort.Slice(policies, func(i, j int) bool { return policies[i].Competition < policies[j].Competition })
	earned := map[string]uint64{}
	weights := map[string]float64{}
	for i, pol := range policies {
		if err := pol.Validate(); err != nil {
			return nil, Errorf(EINVALID, "policies[%d]: %s", i, ErrorMessage(err))
		}
		if i > 0 && policies[i-1].Competition == pol.Competition {
			return nil, Errorf(EINVALID, "policies: competition %q appears twice", pol.Competition)
		}
		if pol.Weight > 0 {
			weights[pol.Competition] = pol.Weight
		}
	}
	if len(weights) > 0 && in.Budget == 0 {
		return nil, Errorf(EINVALID, "policies: weighted competitions need an epoch budget")
	}
	// Weighted competitions share the epoch budget exactly, like payouts.
	weighted := split(in.Budget, weights)
	for _, pol := range policies {
		// The policy is recorded as given, so a snapshot's inputs can be
		// fed back in; a weighted competition's budget shows in Available.
		budget := pol.Budget
		if pol.Weight > 0 {
			budget = weighted[pol.Competition]
		}
		var crowned []Crowning
		for _, c := range in.Crownings[pol.Competition] {
			if !c.At.Before(in.From) && c.At.Before(in.To) {
				crowned = append(crowned, c)
			}
		}
		sort.Slice(crowned, func(i, j int) bool {
			if !crowned[i].At.Equal(crowned[j].At) {
				return crowned[i].At.Before(crowned[j].At)
			}
			return crowned[i].SubmissionID < crowned[j].SubmissionID
		})
		cr := CompetitionReward{Policy: pol, Available: budget + carriedIn[pol.Competition], Crownings: crowned}
		if cr.Crownings == nil {
			cr.Crownings = []Crowning{}
		}
		shares := map[string]float64{}
		switch pol.Mode {
		case RewardWinnerTakesAll:
			count := map[string]int{}
			winner := ""
			for _, c := range crowned {
				count[c.Miner]++
				if winner == "" || count[c.Miner] > count[winner] {
					winner = c.Miner
				}
			}
			if winner != "" {
				shares[winner] = 1
			}
		case RewardProportional:
			for _, c := range crowned {
				shares[c.Miner] += c.Gain
			}
		}
		for hk, amt := range split(cr.Available, shares) {
			earned[hk] += amt
			cr.Spent += amt
		}
		if cr.Spent < cr.Available && pol.CarryForward {
			cr.Carried = cr.Available - cr.Spent
		}
		snap.Competitions = append(snap.Competitions, cr)
	}
	for hk := range cumulative {
		if _, ok := earned[hk]; !ok {
			earned[hk] = 0
		}
	}
	for hk, amt := range earned {
		snap.Payouts = append(snap.Payouts, Payout{Hotkey: hk, Amount: amt, Cumulative: cumulative[hk] + amt})
	}
	sort.Slice(snap.Payouts, func(i, j int) bool { return snap.Payouts[i].Hotkey < snap.Payouts[j].Hotkey })
	return snap, nil
}

// split shares total in proportion to weights, in integers that add up to
// total exactly when any weight is positive (largest remainder first, ties
// to the smaller key); nothing is paid when all weights are zero.
func split(total uint64, weights map[string]float64) map[string]uint64 {
	keys := make([]string, 0, len(weights))
	sum := 0.0
	for k, w := range weights {
		if w > 0 && !math.IsInf(w, 0) && !math.IsNaN(w) {
			keys = append(keys, k)
			sum += w
		}
	}
	out := map[string]uint64{}
	if sum <= 0 || total == 0 {
		return out
	}
	sort.Strings(keys)
	type rem struct {
		k string
		r float64
	}
	var rems []rem
	var given uint64
	for _, k := range keys {
		exact := float64(total) * weights[k] / sum
		whole := uint64(math.Floor(exact))
		out[k] = whole
		given += whole
		rems = append(rems, rem{k, exact - float64(whole)})
	}
	sort.SliceStable(rems, func(i, j int) bool { return rems[i].r > rems[j].r })
	for i := 0; given < total; i = (i + 1) % len(rems) {
		out[rems[i].k]++
		given++
	}
	return out
}

// Encode returns the snapshot's canonical JSON and its SHA-256.
func (s *RewardSnapshot) Encode() ([]byte, string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, "", fmt.Errorf("encode snapshot: %w", err)
	}
	return b, SHA256Hex(b), nil
}

// Epoch is a closed reward epoch: its snapshot, and the Merkle tree of
// cumulative claims (leaf = the hotkey's public key as bytes32, and its
// cumulative amount as uint256) in the OpenZeppelin standard-v1 dump.
type Epoch struct {
	Number       int       `json:"epoch"`
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	Snapshot     []byte    `json:"-"`
	SnapshotHash string    `json:"snapshot_sha256"`
	Root         string    `json:"merkle_root"`
	Tree         []byte    `json:"-"`
	ClosedBy     string    `json:"closed_by"`
	ClosedAt     time.Time `json:"closed_at"`
}

// EpochService keeps closed epochs.
type EpochService interface {
	// CreateEpoch stores a closed epoch. ECONFLICT when its number is not
	// the next one (another replica closed it first).
	CreateEpoch(ctx context.Context, e *Epoch) error
	// FindEpoch returns epoch n, or the latest for n < 0. ENOTFOUND.
	FindEpoch(ctx context.Context, n int) (*Epoch, error)
}
