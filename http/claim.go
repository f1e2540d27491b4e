package http

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/agoranet/agora"
)

// registerClaimRoutes registers claims; a claim is made through its task
// (POST /api/v1/tasks/{id}/claim, in task.go's action route).
func (s *Server) registerClaimRoutes() {
	s.handle("GET /api/v1/claims", s.public(s.handleListClaims))
	s.handle("POST /api/v1/claims/{id}/cancel", s.signed(agora.RoleMiner, DefaultMaxBody, s.handleCancelClaim))
}

// MaxClaimSeconds bounds a claim's requested lifetime.
const MaxClaimSeconds = 86400

// ClaimRequest is the body of POST /api/v1/tasks/{id}/claim.
type ClaimRequest struct {
	Description      string `json:"claim_description"`
	ExpiresInSeconds int    `json:"expires_in_seconds,omitempty"`
}

// handleClaim claims task {id} for a miner.
func (s *Server) handleClaim(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	if !s.hasRole(agora.RoleMiner, who) {
		return agora.Errorf(agora.EFORBIDDEN, "%s is not a registered miner", who)
	}
	var req ClaimRequest
	if len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			return err
		}
	}
	if req.ExpiresInSeconds < 0 || req.ExpiresInSeconds > MaxClaimSeconds {
		return agora.Errorf(agora.EINVALID, "expires_in_seconds: must be 0-%d", MaxClaimSeconds)
	}
	c := &agora.Claim{TaskID: r.PathValue("id"), Miner: who, Description: req.Description}
	if req.ExpiresInSeconds > 0 {
		c.ExpiresAt = s.Now().Add(time.Duration(req.ExpiresInSeconds) * time.Second)
	}
	if err := s.Store.CreateClaim(r.Context(), c); err != nil {
		return err
	}
	s.reply(w, r, http.StatusCreated, c)
	return nil
}

func (s *Server) handleListClaims(w http.ResponseWriter, r *http.Request) error {
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	claims, total, err := s.Store.FindClaims(r.Context(), agora.ClaimFilter{
		TaskID: optional(r, "task_id"), Miner: optional(r, "miner"), Status: optional(r, "status"), Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	if claims == nil {
		claims = []*agora.Claim{}
	}
	s.reply(w, r, http.StatusOK, ListResponse[*agora.Claim]{Items: claims, Total: total})
	return nil
}

func (s *Server) handleCancelClaim(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	c, err := s.Store.CancelClaim(r.Context(), r.PathValue("id"), who)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, c)
	return nil
}

// Claim claims a task (miner).
func (c *Client) Claim(ctx context.Context, taskID string, req ClaimRequest) (*agora.Claim, error) {
	var out agora.Claim
	return &out, c.call(ctx, "POST", "/api/v1/tasks/"+url.PathEscape(taskID)+"/claim", req, &out)
}

// CancelClaim cancels a claim (miner).
func (c *Client) CancelClaim(ctx context.Context, id string) (*agora.Claim, error) {
	var out agora.Claim
	return &out, c.call(ctx, "POST", "/api/v1/claims/"+url.PathEscape(id)+"/cancel", nil, &out)
}
