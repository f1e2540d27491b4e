package http

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
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
var (
	ClaimLeafBytes32 = []string{"bytes32", "uint256"}
	ClaimLeafAddress = []string{"address", "uint256"}
)

// ParseClaimLeaf reads "bytes32,uint256" or "address,uint256".
func ParseClaimLeaf(s string) ([]string, error) {
	for _, l := range [][]string{ClaimLeafBytes32, ClaimLeafAddress} {
		if s == strings.Join(l, ",") {
			return l, nil
		}
	}
	return nil, agora.Errorf(agora.EINVALID, "leaf types %q: want bytes32,uint256 or address,uint256", s)
}

// claimant is a hotkey's first leaf field under the given encoding.
func claimant(types []string, hk string) (string, error) {
	pub, err := hotkey.SS58Decode(hk)
	if err != nil {
		return "", agora.Errorf(agora.EINVALID, "hotkey: %q is not an SS58 address: %v", hk, err)
	}
	if len(types) > 0 && types[0] == "address" {
		return "0x" + hex.EncodeToString(pub[:20]), nil
	}
	return "0x" + hex.EncodeToString(pub[:]), nil
}

func (s *Server) registerEpochRoutes() {
	s.handle("POST /api/v1/epochs/close", s.signed(agora.RoleOwner, DefaultMaxBody, s.handleCloseEpoch))
	s.handle("GET /api/v1/reward-snapshot", s.public(s.handleSnapshot))
	s.handle("GET /api/v1/epochs/{n}/reward-snapshot", s.public(s.handleSnapshot))
	s.handle("GET /api/v1/epochs/{n}/merkle.json", s.public(s.handleEpochTree))
	s.handle("GET /api/v1/epochs/{n}/proofs/{hotkey}", s.public(s.handleProof))
	s.handle("GET /api/v1/epochs/{n}/multiproof", s.public(s.handleMultiProof))
}

// EpochResponse is the body of POST /api/v1/epochs/close.
type EpochResponse struct {
	*agora.Epoch
	Snapshot json.RawMessage `json:"snapshot"`
}

// ProofResponse is a claimant's proof in an epoch's claim tree.
type ProofResponse struct {
	Epoch  int      `json:"epoch"`
	Hotkey string   `json:"hotkey"`
	Types  []string `json:"leaf_encoding"`
	Value  []string `json:"value"`
	Proof  []string `json:"proof"`
	Root   string   `json:"root"`
}

// MultiProofResponse proves several claims at once, in the layout of
// Solidity MerkleProof.multiProofVerify (leaves in tree order).
type MultiProofResponse struct {
	Epoch      int        `json:"epoch"`
	Hotkeys    []string   `json:"hotkeys"`
	Types      []string   `json:"leaf_encoding"`
	Leaves     [][]string `json:"leaves"`
	Proof      []string   `json:"proof"`
	ProofFlags []bool     `json:"proofFlags"`
	Root       string     `json:"root"`
}

// handleCloseEpoch freezes the next epoch: the crownings since the last
// one, shared by the configured policies, and the tree of cumulative
// claims. The epoch is stored whole or not at all.
func (s *Server) handleCloseEpoch(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	resp, err := s.CloseEpoch(r.Context(), who)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusCreated, resp)
	return nil
}

// CloseEpoch closes the next epoch on behalf of who (an owner, or the
// schedule). ECONFLICT when another replica closed it first.
func (s *Server) CloseEpoch(ctx context.Context, who string) (*EpochResponse, error) {
	if len(s.Rewards) == 0 {
		return nil, agora.Errorf(agora.EINVALID, "no reward policies are configured (agora coordinator --reward-policy)")
	}
	in := agora.EpochInput{Epoch: 1, From: time.Unix(0, 0).UTC(), To: s.Now().UTC(), Policies: s.Rewards, Crownings: map[string][]agora.Crowning{},
		Budget: s.EpochBudget, WeightPolicy: s.WeightPolicy}
	leaf := s.ClaimLeaf
	if leaf == nil {
		leaf = ClaimLeafBytes32
	}
	if prev, err := s.Store.FindEpoch(ctx, -1); err == nil {
		var snap agora.RewardSnapshot
		if err := json.Unmarshal(prev.Snapshot, &snap); err != nil {
			return nil, err
		}
		in.Epoch, in.From, in.Previous = prev.Number+1, prev.To, &snap
	} else if agora.ErrorCode(err) != agora.ENOTFOUND {
		return nil, err
	}
	for _, pol := range s.Rewards {
		comp := pol.Competition
		// A league pays the version holding its crown.
		crowns, isLeague, err := s.leagueCrownings(ctx, comp, in.To)
		if err != nil {
			return nil, err
		}
		if isLeague {
			in.Crownings[comp] = crowns
			continue
		}
		f := agora.TaskFilter{Competition: &comp, Limit: 1000}
		for {
			tasks, total, err := s.Store.FindTasks(ctx, f)
			if err != nil {
				return nil, err
			}
			for _, t := range tasks {
				subs, err := s.Store.AllSubmissions(ctx, t.ID, agora.SubmissionAccepted)
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
		key, err := claimant(leaf, p.Hotkey)
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
	if err := s.Store.CreateEpoch(ctx, e); err != nil {
		return nil, err
	}
	s.Logger.Info("epoch closed", "epoch", e.Number, "payouts", len(snap.Payouts), "root", e.Root, "by", who)
	return &EpochResponse{Epoch: e, Snapshot: data}, nil
}

// epoch reads {n} (or the latest when there is none).
func (s *Server) epoch(r *http.Request) (*agora.Epoch, error) {
	n := -1
	if v := r.PathValue("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			return nil, agora.Errorf(agora.EINVALID, "epoch: %q is not a positive integer", v)
		}
	}
	return s.Store.FindEpoch(r.Context(), n)
}

func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) error {
	e, err := s.epoch(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(e.Snapshot)
	return nil
}

func (s *Server) handleEpochTree(w http.ResponseWriter, r *http.Request) error {
	e, err := s.epoch(r)
	if err != nil {
		return err
	}
	if e.Root == "" {
		return agora.Errorf(agora.ENOTFOUND, "epoch %d has no claims", e.Number)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(e.Tree)
	return nil
}

// claimTree loads an epoch's claim tree and indexes it by claimant.
func (s *Server) claimTree(r *http.Request) (*agora.Epoch, *merkle.Tree, map[string]int, error) {
	e, err := s.epoch(r)
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
		v, _ := tree.Value(i)
		index[strings.ToLower(v.Value[0])] = i
	}
	return e, tree, index, nil
}

func (s *Server) handleProof(w http.ResponseWriter, r *http.Request) error {
	hk := r.PathValue("hotkey")
	if _, err := hotkey.SS58Decode(hk); err != nil {
		return agora.Errorf(agora.EINVALID, "hotkey: %q is not an SS58 address: %v", hk, err)
	}
	e, tree, index, err := s.claimTree(r)
	if err != nil {
		return err
	}
	key, err := claimant(tree.Types(), hk)
	if err != nil {
		return err
	}
	i, ok := index[key]
	if !ok {
		return agora.Errorf(agora.ENOTFOUND, "hotkey %s has no claim in epoch %d", hk, e.Number)
	}
	v, _ := tree.Value(i)
	proof, err := tree.Proof(i)
	if err != nil {
		return err
	}
	resp := ProofResponse{Epoch: e.Number, Hotkey: hk, Types: tree.Types(), Value: v.Value, Root: e.Root, Proof: []string{}}
	for _, h := range proof {
		resp.Proof = append(resp.Proof, h.String())
	}
	s.reply(w, r, http.StatusOK, resp)
	return nil
}

// MaxMultiProofHotkeys bounds one multiproof request.
const MaxMultiProofHotkeys = 1024

// handleMultiProof proves the claims of ?hotkey=A&hotkey=B... together.
func (s *Server) handleMultiProof(w http.ResponseWriter, r *http.Request) error {
	hks := r.URL.Query()["hotkey"]
	switch {
	case len(hks) == 0:
		return agora.Errorf(agora.EINVALID, "hotkey: at least one ?hotkey= is required")
	case len(hks) > MaxMultiProofHotkeys:
		return agora.Errorf(agora.EINVALID, "hotkey: at most %d per multiproof", MaxMultiProofHotkeys)
	}
	for i, hk := range hks {
		if _, err := hotkey.SS58Decode(hk); err != nil {
			return agora.Errorf(agora.EINVALID, "hotkey[%d]: %q is not an SS58 address: %v", i, hk, err)
		}
	}
	e, tree, index, err := s.claimTree(r)
	if err != nil {
		return err
	}
	seen := map[int]bool{}
	var idx []int
	for i, hk := range hks {
		key, _ := claimant(tree.Types(), hk)
		j, ok := index[key]
		if !ok {
			return agora.Errorf(agora.ENOTFOUND, "hotkey[%d] %s has no claim in epoch %d", i, hk, e.Number)
		}
		if seen[j] {
			return agora.Errorf(agora.EINVALID, "hotkey[%d] %s: asked for twice", i, hk)
		}
		seen[j] = true
		idx = append(idx, j)
	}
	mp, err := tree.MultiProof(idx)
	if err != nil {
		return err
	}
	resp := MultiProofResponse{Epoch: e.Number, Hotkeys: hks, Types: tree.Types(), Leaves: mp.Leaves, ProofFlags: mp.ProofFlags, Root: e.Root, Proof: []string{}}
	for _, h := range mp.Proof {
		resp.Proof = append(resp.Proof, h.String())
	}
	s.reply(w, r, http.StatusOK, resp)
	return nil
}
