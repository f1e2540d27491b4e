package http

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/agoranet/agora"
)

// registerReplayRoutes registers the public replay record: what anyone
// needs to re-run a verdict and check its signatures (agora replay).
func (s *Server) registerReplayRoutes() {
	s.handle("GET /api/v1/replays", s.public(s.handleReplays))
}

// Replay is one submission's public replay record: its frozen replay spec
// as the public may read it, and the signed results its verdict was
// reached on. It is the body agora replay works from.
type Replay struct {
	// Submission is the submission and its verdict, as the caller may
	// see them (the patch is in the spec).
	Submission     *agora.Submission `json:"submission"`
	ReplaySpecHash string            `json:"replay_spec_hash"`
	// ReplaySpec is the spec: its stored bytes, whose SHA-256 is
	// ReplaySpecHash, unless Elided names fields whose values were
	// replaced by "" (agora.ReplaySpec.Public). Absent when Withheld.
	ReplaySpec json.RawMessage `json:"replay_spec,omitempty"`
	Elided     []string        `json:"elided,omitempty"`
	// Withheld says why the spec is not public yet
	// (agora.ReplayWithheld); the results are then absent too.
	Withheld string `json:"withheld,omitempty"`
	// Results are the validators' signed results; on a sealed task, as
	// the caller may see them (status and reason class: their
	// signatures cannot be checked from that).
	Results []*agora.Result `json:"results,omitempty"`
}

// handleReplays answers GET /api/v1/replays?submission_id=ID or
// ?spec_hash=HASH (every submission frozen into that spec).
func (s *Server) handleReplays(w http.ResponseWriter, r *http.Request) error {
	id, hash := r.URL.Query().Get("submission_id"), r.URL.Query().Get("spec_hash")
	var subs []*agora.Submission
	switch {
	case (id == "") == (hash == ""):
		return agora.Errorf(agora.EINVALID, "submission_id: give submission_id or spec_hash, not both")
	case id != "":
		sub, err := s.Store.FindSubmissionByID(r.Context(), id)
		if err != nil {
			return err
		}
		subs = []*agora.Submission{sub}
	default:
		var err error
		if subs, _, err = s.Store.FindSubmissions(r.Context(), agora.SubmissionFilter{SpecHash: &hash, Limit: 100}); err != nil {
			return err
		}
		if len(subs) == 0 {
			return agora.Errorf(agora.ENOTFOUND, "spec_hash: no submission has replay spec %q", hash)
		}
	}
	out := make([]*Replay, 0, len(subs))
	for _, sub := range subs {
		rp, err := s.replay(r, sub)
		if err != nil {
			return err
		}
		out = append(out, rp)
	}
	s.reply(w, r, http.StatusOK, ListResponse[*Replay]{Items: out, Total: len(out)})
	return nil
}

// replay builds sub's record. Owners and validators get the stored spec
// whole, whatever the rule says: they hold the secrets already.
func (s *Server) replay(r *http.Request, sub *agora.Submission) (*Replay, error) {
	rp := &Replay{Submission: sub, ReplaySpecHash: sub.ReplaySpecHash}
	t, err := s.Store.FindTaskByID(r.Context(), sub.TaskID)
	if err != nil {
		return nil, err
	}
	privileged := s.privileged(r)
	if rp.Withheld = agora.ReplayWithheld(t, sub); rp.Withheld != "" && !privileged {
		return rp, nil
	}
	rp.Withheld = ""
	b, err := s.Store.FindReplaySpec(r.Context(), sub.ReplaySpecHash)
	if err != nil {
		return nil, err
	}
	rp.ReplaySpec = b
	if !privileged {
		var spec agora.ReplaySpec
		if err := json.Unmarshal(b, &spec); err != nil {
			return nil, agora.Errorf(agora.EINTERNAL, "replay spec %s: %v", sub.ReplaySpecHash, err)
		}
		if pub, elided := spec.Public(); elided != nil {
			rp.Elided = elided
			if rp.ReplaySpec, err = json.Marshal(pub); err != nil {
				return nil, err
			}
		}
	}
	if rp.Results, err = s.Store.FindResults(r.Context(), sub.ID); err != nil {
		return nil, err
	}
	return rp, nil
}

// Replays returns the public replay records of a submission (by id) or of
// every submission frozen into a replay spec (by its 64-hex hash).
func (c *Client) Replays(ctx context.Context, submissionOrSpecHash string) ([]*Replay, error) {
	q := url.Values{}
	if agora.IsSHA256Hex(submissionOrSpecHash) {
		q.Set("spec_hash", submissionOrSpecHash)
	} else {
		q.Set("submission_id", submissionOrSpecHash)
	}
	var out ListResponse[*Replay]
	err := c.call(ctx, "GET", "/api/v1/replays?"+q.Encode(), nil, &out)
	return out.Items, err
}
