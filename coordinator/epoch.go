package coordinator

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
	"github.com/agoranet/agora/merkle"
)

// Claim tree leaf encodings: a claimant and its cumulative amount, for an
// OpenZeppelin MerkleProof verifier. The claimant is the hotkey's 32-byte
// public key, or, for contracts keyed by EVM address, its first 20 bytes:
// the SS58-to-H160 mapping Bittensor's EVM examples use.
const (
	ClaimLeafBytes32 = "bytes32,uint256"
	ClaimLeafAddress = "address,uint256"
)

// ParseClaimLeaf returns the leaf types of ClaimLeafBytes32 or
// ClaimLeafAddress ("" is DefaultClaimLeaf); EINVALID otherwise. The
// slice is the caller's.
func ParseClaimLeaf(s string) ([]string, error) {
	if s == "" {
		s = DefaultClaimLeaf
	}
	switch s {
	case ClaimLeafBytes32, ClaimLeafAddress:
		return strings.Split(s, ","), nil
	}
	return nil, agora.Errorf(agora.EINVALID, "leaf types %q: want %s or %s", s, ClaimLeafBytes32, ClaimLeafAddress)
}

// Claimant is a hotkey's first leaf field under the leaf types: its public
// key, or under "address" its first 20 bytes, as 0x hex. EINVALID for a
// hotkey that is not an SS58 address.
func Claimant(types []string, hk string) (string, error) {
	pub, err := hotkey.SS58Decode(hk)
	if err != nil {
		return "", agora.Errorf(agora.EINVALID, "hotkey: %q is not an SS58 address: %v", hk, err)
	}
	if len(types) > 0 && types[0] == "address" {
		return "0x" + hex.EncodeToString(pub[:20]), nil
	}
	return "0x" + hex.EncodeToString(pub[:]), nil
}

// CloseEpoch freezes the next epoch on behalf of who (an owner, or
// "schedule"): the crownings since the last one, shared by Rewards, and
// the tree of cumulative claims. The epoch is stored whole or not at all.
// EINVALID when no reward policy is configured or a payee is not an SS58
// address; ECONFLICT when another replica closed it first.
func (c *Coordinator) CloseEpoch(ctx context.Context, who string) (*agora.Epoch, error) {
	if len(c.Rewards) == 0 {
		return nil, agora.Errorf(agora.EINVALID, "no reward policies are configured (agora coordinator --reward-policy)")
	}
	leaf, err := ParseClaimLeaf(c.ClaimLeaf)
	if err != nil {
		return nil, err
	}
	in := agora.EpochInput{Epoch: 1, From: time.Unix(0, 0).UTC(), To: c.now().UTC(), Policies: c.Rewards, Crownings: map[string][]agora.Crowning{},
		Budget: c.EpochBudget, WeightPolicy: c.WeightPolicy}
	if prev, err := c.Store.FindEpoch(ctx, -1); err == nil {
		var snap agora.RewardSnapshot
		if err := json.Unmarshal(prev.Snapshot, &snap); err != nil {
			return nil, err
		}
		in.Epoch, in.From, in.Previous = prev.Number+1, prev.To, &snap
	} else if agora.ErrorCode(err) != agora.ENOTFOUND {
		return nil, err
	}
	for _, pol := range c.Rewards {
		comp := pol.Competition
		// A league pays the version holding its crown.
		crowns, isLeague, err := c.leagueCrownings(ctx, comp, in.To)
		if err != nil {
			return nil, err
		}
		if isLeague {
			in.Crownings[comp] = crowns
			continue
		}
		f := agora.TaskFilter{Competition: &comp, Limit: 1000}
		for {
			tasks, total, err := c.Store.FindTasks(ctx, f)
			if err != nil {
				return nil, err
			}
			for _, t := range tasks {
				subs, err := c.Store.AllSubmissions(ctx, t.ID, agora.SubmissionAccepted)
				if err != nil {
					return nil, err
				}
				in.Crownings[comp] = append(in.Crownings[comp], agora.Crownings(t, subs)...)
			}
			f.Offset += len(tasks)
			if len(tasks) == 0 || f.Offset >= total {
				break
			}
		}
	}
	snap, err := agora.ComputeSnapshot(in)
	if err != nil {
		return nil, err
	}
	data, hash, err := snap.Encode()
	if err != nil {
		return nil, err
	}
	e := &agora.Epoch{Number: snap.Epoch, From: snap.From, To: snap.To, Snapshot: data, SnapshotHash: hash, ClosedBy: who}
	var values [][]string
	for _, p := range snap.Payouts {
		if p.Cumulative == 0 {
			continue
		}
		key, err := Claimant(leaf, p.Hotkey)
		if err != nil {
			return nil, agora.Errorf(agora.EINVALID, "payout to %q: %s", p.Hotkey, agora.ErrorMessage(err))
		}
		values = append(values, []string{key, strconv.FormatUint(p.Cumulative, 10)})
	}
	if len(values) > 0 {
		tree, err := merkle.New(leaf, values)
		if err != nil {
			return nil, err
		}
		e.Root, e.Tree = tree.Root().String(), tree.Dump()
	} else {
		e.Tree = []byte("{}")
	}
	if err := c.Store.CreateEpoch(ctx, e); err != nil {
		return nil, err
	}
	c.logger().Info("epoch closed", "epoch", e.Number, "payouts", len(snap.Payouts), "root", e.Root, "by", who)
	return e, nil
}

// claimTree loads epoch n's claim tree (the latest for n < 0) and indexes
// it by claimant. ENOTFOUND for an unknown epoch or one without claims.
func (c *Coordinator) claimTree(ctx context.Context, n int) (*agora.Epoch, *merkle.Tree, map[string]int, error) {
	e, err := c.Store.FindEpoch(ctx, n)
	if err != nil {
		return nil, nil, nil, err
	}
	if e.Root == "" {
		return nil, nil, nil, agora.Errorf(agora.ENOTFOUND, "epoch %d has no claims", e.Number)
	}
	tree, err := merkle.Load(e.Tree)
	if err != nil {
		return nil, nil, nil, err
	}
	index := make(map[string]int, tree.Len())
	for i := 0; i < tree.Len(); i++ {
		v, err := tree.Value(i)
		if err != nil || len(v.Value) == 0 {
			continue
		}
		index[strings.ToLower(v.Value[0])] = i
	}
	return e, tree, index, nil
}

// ClaimProof returns hk's claim and proof in epoch n (the latest for
// n < 0). EINVALID for a hotkey that is not an SS58 address; ENOTFOUND for
// an unknown epoch, one without claims, or a hotkey without a claim.
func (c *Coordinator) ClaimProof(ctx context.Context, n int, hk string) (*agora.ClaimProof, error) {
	if _, err := hotkey.SS58Decode(hk); err != nil {
		return nil, agora.Errorf(agora.EINVALID, "hotkey: %q is not an SS58 address: %v", hk, err)
	}
	e, tree, index, err := c.claimTree(ctx, n)
	if err != nil {
		return nil, err
	}
	key, err := Claimant(tree.Types(), hk)
	if err != nil {
		return nil, err
	}
	i, ok := index[key]
	if !ok {
		return nil, agora.Errorf(agora.ENOTFOUND, "hotkey %s has no claim in epoch %d", hk, e.Number)
	}
	v, err := tree.Value(i)
	if err != nil {
		return nil, err
	}
	proof, err := tree.Proof(i)
	if err != nil {
		return nil, err
	}
	out := &agora.ClaimProof{Epoch: e.Number, Hotkey: hk, Types: tree.Types(), Value: v.Value, Root: e.Root, Proof: []string{}}
	for _, h := range proof {
		out.Proof = append(out.Proof, h.String())
	}
	return out, nil
}

// ClaimMultiProof proves the claims of hks together in epoch n (the
// latest for n < 0). EINVALID for no hotkey, one that is not an SS58
// address, or one asked for twice; ENOTFOUND as ClaimProof.
func (c *Coordinator) ClaimMultiProof(ctx context.Context, n int, hks []string) (*agora.ClaimMultiProof, error) {
	if len(hks) == 0 {
		return nil, agora.Errorf(agora.EINVALID, "hotkey: at least one is required")
	}
	for i, hk := range hks {
		if _, err := hotkey.SS58Decode(hk); err != nil {
			return nil, agora.Errorf(agora.EINVALID, "hotkey[%d]: %q is not an SS58 address: %v", i, hk, err)
		}
	}
	e, tree, index, err := c.claimTree(ctx, n)
	if err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	var idx []int
	for i, hk := range hks {
		key, _ := Claimant(tree.Types(), hk)
		j, ok := index[key]
		if !ok {
			return nil, agora.Errorf(agora.ENOTFOUND, "hotkey[%d] %s has no claim in epoch %d", i, hk, e.Number)
		}
		if seen[j] {
			return nil, agora.Errorf(agora.EINVALID, "hotkey[%d] %s: asked for twice", i, hk)
		}
		seen[j] = true
		idx = append(idx, j)
	}
	mp, err := tree.MultiProof(idx)
	if err != nil {
		return nil, err
	}
	out := &agora.ClaimMultiProof{Epoch: e.Number, Hotkeys: hks, Types: tree.Types(), Leaves: mp.Leaves, ProofFlags: mp.ProofFlags, Root: e.Root, Proof: []string{}}
	for _, h := range mp.Proof {
		out.Proof = append(out.Proof, h.String())
	}
	return out, nil
}
