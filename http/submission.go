package http

import (
	"context"
	"net/http"
	"net/url"

	"github.com/agoranet/agora"
)

// registerSubmissionRoutes registers submissions: miners submit, anyone
// lists and reads them (patches only for their miner).
func (s *Server) registerSubmissionRoutes() {
	s.handle("POST /api/v1/submissions", s.signed(agora.RoleMiner, DefaultMaxBody, s.handleSubmit))
	s.handle("GET /api/v1/submissions", s.public(s.handleListSubmissions))
	s.handle("GET /api/v1/submissions/{id}", s.public(s.handleGetSubmission))
}

// SubmitRequest is the body of POST /api/v1/submissions (BitSota's fields,
// plus client_key for idempotent retries).
type SubmitRequest struct {
	TaskID         string             `json:"task_id"`
	ClaimID        string             `json:"claim_id,omitempty"`
	ClientKey      string             `json:"client_key,omitempty"`
	BaseRef        string             `json:"base_ref,omitempty"`
	Patch          string             `json:"patch,omitempty"`
	Summary        string             `json:"summary,omitempty"`
	ClaimedMetrics map[string]float64 `json:"claimed_metrics,omitempty"`
	ProposedIdea   string             `json:"proposed_idea,omitempty"`
	ImplementedID  string             `json:"implemented_submission_id,omitempty"`
	ArtifactURI    string             `json:"artifact_uri,omitempty"`
	ArtifactSHA256 string             `json:"artifact_sha256,omitempty"`
	ArtifactSize   int64              `json:"artifact_size_bytes,omitempty"`
	ExecutionLog   string             `json:"execution_log,omitempty"`
}

// submission is the submission the request describes, by miner.
func (req *SubmitRequest) submission(miner string) *agora.Submission {
	sub := &agora.Submission{
		TaskID: req.TaskID, ClaimID: req.ClaimID, Miner: miner, ClientKey: req.ClientKey, BaseRef: req.BaseRef,
		Patch: req.Patch, Summary: req.Summary, ClaimedMetrics: req.ClaimedMetrics,
		ProposedIdea: req.ProposedIdea, ImplementedID: req.ImplementedID,
	}
	if req.ArtifactURI != "" || req.ArtifactSHA256 != "" || req.ArtifactSize != 0 {
		sub.Artifact = &agora.Artifact{URI: req.ArtifactURI, SHA256: req.ArtifactSHA256, Size: req.ArtifactSize}
	}
	return sub
}

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var req SubmitRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if req.TaskID == "" {
		return agora.Errorf(agora.EINVALID, "task_id: required")
	}
	sub := req.submission(who)
	// The tampering scan decides first: refused (422), held, or stored.
	created, err := s.Coordinator.Submit(r.Context(), sub)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.reply(w, r, status, sub)
	return nil
}

func (s *Server) handleListSubmissions(w http.ResponseWriter, r *http.Request) error {
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	f := agora.SubmissionFilter{TaskID: optional(r, "task_id"), Miner: optional(r, "miner"), Status: optional(r, "status"), Limit: limit, Offset: offset}
	if r.URL.Query().Get("mine") != "" {
		who := agora.HotkeyFromContext(r.Context())
		if who == "" {
			return agora.Errorf(agora.EUNAUTHORIZED, "mine: sign the request to list your own submissions")
		}
		f.Miner = &who
	}
	subs, total, err := s.Store.FindSubmissions(r.Context(), f)
	if err != nil {
		return err
	}
	if subs == nil {
		subs = []*agora.Submission{}
	}
	s.reply(w, r, http.StatusOK, ListResponse[*agora.Submission]{Items: subs, Total: total})
	return nil
}

func (s *Server) handleGetSubmission(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.Store.FindSubmissionByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, sub)
	return nil
}

// Submit posts a submission (miner). Retrying with the same ClientKey is safe.
func (c *Client) Submit(ctx context.Context, req SubmitRequest) (*agora.Submission, error) {
	var out agora.Submission
	return &out, c.call(ctx, "POST", "/api/v1/submissions", req, &out)
}

// Submission returns a submission and its verdict.
func (c *Client) Submission(ctx context.Context, id string) (*agora.Submission, error) {
	var out agora.Submission
	return &out, c.call(ctx, "GET", "/api/v1/submissions/"+url.PathEscape(id), nil, &out)
}

// Submissions lists submissions.
func (c *Client) Submissions(ctx context.Context, query url.Values) (*ListResponse[*agora.Submission], error) {
	var out ListResponse[*agora.Submission]
	return &out, c.call(ctx, "GET", "/api/v1/submissions?"+query.Encode(), nil, &out)
}
