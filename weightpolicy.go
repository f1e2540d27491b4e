package agora

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// Validator weight target kinds.
const (
	// TargetUID gives a share to a fixed UID (e.g. 0, the subnet owner's
	// burn UID).
	TargetUID = "uid"
	// TargetHotkey gives a share to a hotkey (e.g. the one behind the claim
	// contract), resolved to its UID through the metagraph when weights are
	// set, so a re-registration never leaves a stale UID behind.
	TargetHotkey = "hotkey"
	// TargetMiners shares a part among the epoch's payouts, in proportion
	// to their amounts, each miner resolved through the metagraph.
	TargetMiners = "miners"
)

// shareTolerance absorbs float rounding when shares are checked to sum to
// one (three thirds written as 0.333333333333 each still pass).
const shareTolerance = 1e-9

// WeightTarget is one part of a validator's weights.
type WeightTarget struct {
	Kind   string  `json:"kind"`
	UID    *uint16 `json:"uid,omitempty"`
	Hotkey string  `json:"hotkey,omitempty"`
	Share  float64 `json:"share"`
}

// String is the target in --weight-target form.
func (t WeightTarget) String() string {
	share := strconv.FormatFloat(t.Share, 'g', -1, 64)
	switch t.Kind {
	case TargetUID:
		if t.UID != nil {
			return "uid:" + strconv.Itoa(int(*t.UID)) + "=" + share
		}
	case TargetHotkey:
		return "hotkey:" + t.Hotkey + "=" + share
	}
	return t.Kind + "=" + share
}

// WeightPolicy says how a validator's weights are shared among targets.
// It is frozen into every reward snapshot so weights can be recomputed
// from the snapshot alone.
type WeightPolicy struct {
	Targets []WeightTarget `json:"targets"`
}

// ParseWeightTarget reads "uid:N=SHARE", "hotkey:SS58=SHARE" or
// "miners=SHARE".
func ParseWeightTarget(s string) (WeightTarget, error) {
	spec, shareText, ok := strings.Cut(s, "=")
	if !ok {
		return WeightTarget{}, Errorf(EINVALID, "weight target %q: want uid:N=SHARE, hotkey:SS58=SHARE or miners=SHARE", s)
	}
	share, err := strconv.ParseFloat(shareText, 64)
	if err != nil {
		return WeightTarget{}, Errorf(EINVALID, "weight target %q: share %q is not a number", s, shareText)
	}
	kind, arg, _ := strings.Cut(spec, ":")
	t := WeightTarget{Kind: kind, Share: share}
	switch kind {
	case TargetUID:
		n, err := strconv.ParseUint(arg, 10, 16)
		if err != nil {
			return WeightTarget{}, Errorf(EINVALID, "weight target %q: uid %q is not a number in 0..65535", s, arg)
		}
		u := uint16(n)
		t.UID = &u
	case TargetHotkey:
		t.Hotkey = arg
	case TargetMiners:
		if arg != "" {
			return WeightTarget{}, Errorf(EINVALID, "weight target %q: miners takes no argument", s)
		}
	default:
		return WeightTarget{}, Errorf(EINVALID, "weight target %q: kind %q is not uid, hotkey or miners", s, kind)
	}
	return t, nil
}

// Validate checks that every target is well formed, that no UID or hotkey
// appears twice and that the shares sum to one. EINVALID names the target.
func (p *WeightPolicy) Validate() error {
	if len(p.Targets) == 0 {
		return Errorf(EINVALID, "weight policy: no targets")
	}
	seen := map[string]bool{}
	sum := 0.0
	for i, t := range p.Targets {
		switch {
		case math.IsNaN(t.Share) || t.Share <= 0 || t.Share > 1:
			return Errorf(EINVALID, "weight policy: targets[%d] (%s): share must be in (0, 1]", i, t)
		case t.Kind == TargetUID && t.UID == nil:
			return Errorf(EINVALID, "weight policy: targets[%d]: uid required", i)
		case t.Kind == TargetHotkey && t.Hotkey == "":
			return Errorf(EINVALID, "weight policy: targets[%d]: hotkey required", i)
		case t.Kind != TargetUID && t.Kind != TargetHotkey && t.Kind != TargetMiners:
			return Errorf(EINVALID, "weight policy: targets[%d]: kind %q is not uid, hotkey or miners", i, t.Kind)
		}
		key := t.String()
		key = key[:strings.LastIndexByte(key, '=')]
		if seen[key] {
			return Errorf(EINVALID, "weight policy: targets[%d]: %s appears twice", i, key)
		}
		seen[key] = true
		sum += t.Share
	}
	if math.Abs(sum-1) > shareTolerance {
		return Errorf(EINVALID, "weight policy: shares sum to %s, not 1", strconv.FormatFloat(sum, 'g', -1, 64))
	}
	return nil
}

// ResolvedWeight is one UID's float weight and why it has it.
type ResolvedWeight struct {
	UID    uint16  `json:"uid"`
	Weight float64 `json:"weight"`
	Why    string  `json:"why"`
}

// Resolve turns the policy and an epoch's payouts into a float weight per
// UID. uidOf looks a hotkey up in the metagraph. A hotkey target that is
// not registered is an ENOTFOUND error (weights must not silently lose a
// share); miners that are not registered are left out of the miners share
// and listed in notes; with no registered miner the share is not set at
// all. The result is sorted by UID, and UIDs named twice add up.
func (p *WeightPolicy) Resolve(payouts []Payout, uidOf func(hotkey string) (uint16, bool)) (weights []ResolvedWeight, notes []string, err error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	byUID := map[uint16]*ResolvedWeight{}
	add := func(uid uint16, w float64, why string) {
		if r, ok := byUID[uid]; ok {
			r.Weight += w
			r.Why += "; " + why
			return
		}
		byUID[uid] = &ResolvedWeight{UID: uid, Weight: w, Why: why}
	}
	for _, t := range p.Targets {
		switch t.Kind {
		case TargetUID:
			add(*t.UID, t.Share, "target "+t.String())
		case TargetHotkey:
			uid, ok := uidOf(t.Hotkey)
			if !ok {
				return nil, nil, Errorf(ENOTFOUND, "weight target %s: hotkey is not registered on the subnet", t)
			}
			add(uid, t.Share, "target "+t.String())
		case TargetMiners:
			var total float64
			type reg struct {
				uid uint16
				po  Payout
			}
			var regs []reg
			for _, po := range payouts {
				if po.Amount == 0 {
					continue
				}
				uid, ok := uidOf(po.Hotkey)
				if !ok {
					notes = append(notes, "miner "+po.Hotkey+" earned "+strconv.FormatUint(po.Amount, 10)+" but is not registered; left out")
					continue
				}
				regs = append(regs, reg{uid, po})
				total += float64(po.Amount)
			}
			if total == 0 {
				notes = append(notes, "target "+t.String()+": no registered miner earned anything this epoch; share not set")
				continue
			}
			for _, r := range regs {
				add(r.uid, t.Share*float64(r.po.Amount)/total, "miner "+r.po.Hotkey+" earned "+strconv.FormatUint(r.po.Amount, 10))
			}
		}
	}
	for _, r := range byUID {
		weights = append(weights, *r)
	}
	sort.Slice(weights, func(i, j int) bool { return weights[i].UID < weights[j].UID })
	return weights, notes, nil
}

// ParseRewardPolicy reads "competition:mode:budget[:carry]": budget is a
// whole number of units, or "w=WEIGHT" for a weighted share of the epoch's
// budget; a final ":carry" sets CarryForward. It checks the form only; the
// policy's own rules are RewardPolicy.Validate's. EINVALID names s.
func ParseRewardPolicy(s string) (RewardPolicy, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 3 || len(parts) > 4 || (len(parts) == 4 && parts[3] != "carry") {
		return RewardPolicy{}, Errorf(EINVALID, "reward policy %q: want competition:mode:budget[:carry]", s)
	}
	p := RewardPolicy{Competition: parts[0], Mode: parts[1], CarryForward: len(parts) == 4}
	if w, ok := strings.CutPrefix(parts[2], "w="); ok {
		weight, err := strconv.ParseFloat(w, 64)
		if err != nil || weight <= 0 {
			return RewardPolicy{}, Errorf(EINVALID, "reward policy %q: weight %q is not a positive number", s, w)
		}
		p.Weight = weight
	} else {
		budget, err := strconv.ParseUint(parts[2], 10, 64)
		if err != nil {
			return RewardPolicy{}, Errorf(EINVALID, "reward policy %q: budget %q is not a whole number of units (or w=WEIGHT)", s, parts[2])
		}
		p.Budget = budget
	}
	return p, nil
}
