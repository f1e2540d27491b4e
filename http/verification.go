package http

import (
	"context"
	"net/http"
	"net/url"

	"github.com/agoranet/agora"
)

// registerVerificationRoutes registers a submission's results.
func (s *Server) registerVerificationRoutes() {
	s.handle("GET /api/v1/verifications", s.public(s.handleVerifications))
}

func (s *Server) handleVerifications(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("submission_id")
	if id == "" {
		return agora.Errorf(agora.EINVALID, "submission_id: required")
	}
	results, err := s.results(r, id)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, ListResponse[*agora.Result]{Items: results, Total: len(results)})
	return nil
}

// results returns a submission's results (validators' and peers'), for
// the submission's miner, owners and validators only (EFORBIDDEN).
func (s *Server) results(r *http.Request, submissionID string) ([]*agora.Result, error) {
	sub, err := s.Store.FindSubmissionByID(r.Context(), submissionID)
	if err != nil {
		return nil, err
	}
	if !s.privileged(r) && agora.HotkeyFromContext(r.Context()) != sub.Miner {
		return nil, agora.Errorf(agora.EFORBIDDEN, "results are shown to the submission's miner, owners and validators; sign the request")
	}
	return s.Store.FindResults(r.Context(), submissionID)
}

// Verifications returns a submission's results.
func (c *Client) Verifications(ctx context.Context, submissionID string) ([]*agora.Result, error) {
	var out ListResponse[*agora.Result]
	err := c.call(ctx, "GET", "/api/v1/verifications?submission_id="+url.QueryEscape(submissionID), nil, &out)
	return out.Items, err
}
