package http

import (
	"context"
	"net/http"
	"net/url"

	"github.com/agoranet/agora"
)

// Held submissions: the tampering scan holds a submission whose patch
// reaches into the test runner when its task's tamper policy is hold; its
// task's owner releases it (its jobs are queued) or rejects it.

// registerHeldRoutes registers a task owner's decisions on its held
// submissions.
func (s *Server) registerHeldRoutes() {
	s.handle("POST /api/v1/submissions/{id}/release", s.signed(agora.RoleOwner, DefaultMaxBody, s.handleReleaseHeld))
	s.handle("POST /api/v1/submissions/{id}/reject", s.signed(agora.RoleOwner, DefaultMaxBody, s.handleRejectHeld))
}

func (s *Server) handleReleaseHeld(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	sub, err := s.Coordinator.ReleaseHeld(r.Context(), r.PathValue("id"), who)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, sub)
	return nil
}

func (s *Server) handleRejectHeld(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	sub, err := s.Coordinator.RejectHeld(r.Context(), r.PathValue("id"), who)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, sub)
	return nil
}

// ReleaseSubmission releases a held submission (its task's owner).
func (c *Client) ReleaseSubmission(ctx context.Context, id string) (*agora.Submission, error) {
	var out agora.Submission
	err := c.call(ctx, http.MethodPost, "/api/v1/submissions/"+url.PathEscape(id)+"/release", struct{}{}, &out)
	return &out, err
}

// RejectHeldSubmission rejects a held submission (its task's owner).
func (c *Client) RejectHeldSubmission(ctx context.Context, id string) (*agora.Submission, error) {
	var out agora.Submission
	err := c.call(ctx, http.MethodPost, "/api/v1/submissions/"+url.PathEscape(id)+"/reject", struct{}{}, &out)
	return &out, err
}
