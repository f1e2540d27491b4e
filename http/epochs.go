package http

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
)

// registerEpochRoutes registers reward epochs: owners close them; anyone
// reads their snapshots, claim trees and proofs.
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
type ProofResponse agora.ClaimProof

// MultiProofResponse proves several claims at once, in the layout of
// Solidity MerkleProof.multiProofVerify (leaves in tree order).
type MultiProofResponse agora.ClaimMultiProof

// MaxMultiProofHotkeys bounds one multiproof request.
const MaxMultiProofHotkeys = 1024

// handleCloseEpoch freezes the next epoch (coordinator.CloseEpoch).
func (s *Server) handleCloseEpoch(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	e, err := s.Coordinator.CloseEpoch(r.Context(), who)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusCreated, &EpochResponse{Epoch: e, Snapshot: e.Snapshot})
	return nil
}

// epochNumber reads {n}: -1 (the latest) when there is none.
func epochNumber(r *http.Request) (int, error) {
	v := r.PathValue("n")
	if v == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, agora.Errorf(agora.EINVALID, "epoch: %q is not a positive integer", v)
	}
	return n, nil
}

// epoch reads epoch {n} (or the latest when there is none).
func (s *Server) epoch(r *http.Request) (*agora.Epoch, error) {
	n, err := epochNumber(r)
	if err != nil {
		return nil, err
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

func (s *Server) handleProof(w http.ResponseWriter, r *http.Request) error {
	hk := r.PathValue("hotkey")
	if _, err := hotkey.SS58Decode(hk); err != nil {
		return agora.Errorf(agora.EINVALID, "hotkey: %q is not an SS58 address: %v", hk, err)
	}
	n, err := epochNumber(r)
	if err != nil {
		return err
	}
	p, err := s.Coordinator.ClaimProof(r.Context(), n, hk)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, (*ProofResponse)(p))
	return nil
}

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
	n, err := epochNumber(r)
	if err != nil {
		return err
	}
	mp, err := s.Coordinator.ClaimMultiProof(r.Context(), n, hks)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, (*MultiProofResponse)(mp))
	return nil
}

// CloseEpoch closes the next reward epoch (owner). ECONFLICT when another
// replica closed it first.
func (c *Client) CloseEpoch(ctx context.Context) (*EpochResponse, error) {
	var out EpochResponse
	return &out, c.call(ctx, "POST", "/api/v1/epochs/close", nil, &out)
}

// RewardSnapshot returns epoch n's reward snapshot as published, byte for
// byte (its hash is the epoch's snapshot_sha256); n < 1 is the latest.
func (c *Client) RewardSnapshot(ctx context.Context, n int) ([]byte, error) {
	path := "/api/v1/reward-snapshot"
	if n > 0 {
		path = "/api/v1/epochs/" + strconv.Itoa(n) + "/reward-snapshot"
	}
	var b []byte
	err := c.call(ctx, "GET", path, nil, &b)
	return b, err
}

// LatestSnapshot returns the last closed epoch's reward snapshot.
// ENOTFOUND before the first epoch.
func (c *Client) LatestSnapshot(ctx context.Context) (*agora.RewardSnapshot, error) {
	var snap agora.RewardSnapshot
	if err := c.call(ctx, "GET", "/api/v1/reward-snapshot", nil, &snap); err != nil {
		return nil, err
	}
	return &snap, nil
}

// EpochTree returns epoch n's claim tree, an OpenZeppelin standard-v1
// dump. ENOTFOUND for an epoch without claims.
func (c *Client) EpochTree(ctx context.Context, n int) ([]byte, error) {
	var b []byte
	err := c.call(ctx, "GET", "/api/v1/epochs/"+strconv.Itoa(n)+"/merkle.json", nil, &b)
	return b, err
}

// ClaimProof returns a hotkey's claim and proof in epoch n.
func (c *Client) ClaimProof(ctx context.Context, n int, hk string) (*ProofResponse, error) {
	var out ProofResponse
	return &out, c.call(ctx, "GET", "/api/v1/epochs/"+strconv.Itoa(n)+"/proofs/"+url.PathEscape(hk), nil, &out)
}

// ClaimMultiProof proves the claims of hotkeys together in epoch n.
func (c *Client) ClaimMultiProof(ctx context.Context, n int, hotkeys []string) (*MultiProofResponse, error) {
	var out MultiProofResponse
	q := url.Values{"hotkey": hotkeys}
	return &out, c.call(ctx, "GET", "/api/v1/epochs/"+strconv.Itoa(n)+"/multiproof?"+q.Encode(), nil, &out)
}
