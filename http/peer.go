package http

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/agoranet/agora"
)

// registerPeerRoutes registers peer evaluation: registered miners the
// coordinator assigned evaluate a submission, once.
func (s *Server) registerPeerRoutes() {
	s.handle("POST /api/v1/submissions/{id}/peer-evaluate", s.signed("", DefaultMaxBody, s.handlePeerEvaluate))
	s.handle("GET /api/v1/peer-assignments", s.signed("", DefaultMaxBody, s.handlePeerAssignments))
}

// EvaluationRequest is the body of a peer evaluation.
type EvaluationRequest struct {
	Status          string             `json:"status"`
	ObservedMetrics map[string]float64 `json:"observed_metrics,omitempty"`
	Reason          string             `json:"reason,omitempty"`
	Notes           string             `json:"notes,omitempty"`
	// Signer and Signature optionally sign the evaluation as validators
	// sign results (agora.Result.SigningBytes, for the submission's replay
	// spec hash); the coordinator checks them when present.
	Signer    string `json:"signer,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// handlePeerEvaluate takes an evaluation from a registered miner the
// coordinator assigned to the submission, once.
func (s *Server) handlePeerEvaluate(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	res, err := s.peerEvaluate(r, who, body)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusCreated, res)
	return nil
}

// peerEvaluate records who's evaluation (body EvaluationRequest) of
// submission {id}.
func (s *Server) peerEvaluate(r *http.Request, who string, body []byte) (*agora.Result, error) {
	// Who may evaluate is settled before the body is decoded.
	if err := s.Coordinator.MayEvaluate(who); err != nil {
		return nil, err
	}
	var req EvaluationRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	return s.Coordinator.PeerEvaluate(r.Context(), &agora.Result{
		SubmissionID: r.PathValue("id"), Validator: who, Status: req.Status, ObservedMetrics: req.ObservedMetrics, Reason: req.Reason, Notes: req.Notes,
		Signer: req.Signer, Signature: req.Signature})
}

// handlePeerAssignments lists the caller's evaluation assignments (a
// registered miner), with the submissions to replay; owners and
// validators may list anyone's (?evaluator=).
func (s *Server) handlePeerAssignments(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	privileged := s.privileged(r)
	if !privileged {
		if err := s.Coordinator.MayEvaluate(who); err != nil {
			return err
		}
	}
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	if err := s.Coordinator.AssignPeers(r.Context()); err != nil {
		return err
	}
	f := agora.AssignmentFilter{SubmissionID: optional(r, "submission_id"), Evaluator: &who, Limit: limit, Offset: offset}
	if privileged {
		f.Evaluator = optional(r, "evaluator")
	}
	if v := r.URL.Query().Get("done"); v != "" {
		done, err := strconv.ParseBool(v)
		if err != nil {
			return agora.Errorf(agora.EINVALID, "done: must be true or false")
		}
		f.Done = &done
	}
	list, total, err := s.Store.FindAssignments(r.Context(), f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []*agora.Assignment{}
	}
	for _, a := range list {
		if a.Evaluator == who {
			if a.Submission, err = s.Store.FindSubmissionByID(r.Context(), a.SubmissionID); err != nil {
				return err
			}
		}
	}
	s.reply(w, r, http.StatusOK, ListResponse[*agora.Assignment]{Items: list, Total: total})
	return nil
}

// PeerEvaluate posts a peer evaluation (a registered miner).
func (c *Client) PeerEvaluate(ctx context.Context, submissionID string, req EvaluationRequest) (*agora.Result, error) {
	var out agora.Result
	return &out, c.call(ctx, "POST", "/api/v1/submissions/"+url.PathEscape(submissionID)+"/peer-evaluate", req, &out)
}

// PeerAssignments lists the caller's evaluation assignments (submission_id,
// done, limit, offset; owners and validators also evaluator).
func (c *Client) PeerAssignments(ctx context.Context, query url.Values) (*ListResponse[*agora.Assignment], error) {
	var out ListResponse[*agora.Assignment]
	path := "/api/v1/peer-assignments"
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return &out, c.call(ctx, "GET", path, nil, &out)
}
