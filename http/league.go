package http

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/agoranet/agora"
)

// MaxAgentUploadBody bounds an upload: 2 MiB of code, JSON-escaped.
const MaxAgentUploadBody = 6*agora.MaxAgentBytes + 1<<16

// registerLeagueRoutes registers agent leagues: owners configure them,
// miners upload agent versions, anyone reads standings and, once public,
// code; validators fetch the code they run.
func (s *Server) registerLeagueRoutes() {
	s.handle("PUT /api/v1/leagues/{competition}", s.signed(agora.RoleOwner, DefaultMaxBody, s.handlePutLeague))
	s.handle("GET /api/v1/leagues/{competition}", s.public(s.handleGetLeague))
	s.handle("POST /api/v1/leagues/{competition}/agents", s.signed(agora.RoleMiner, MaxAgentUploadBody, s.handleUploadAgent))
	s.handle("GET /api/v1/agents", s.public(s.handleListAgents))
	s.handle("GET /api/v1/agents/{id}", s.public(s.handleGetAgent))
	s.handle("GET /api/v1/agents/{id}/code", s.public(s.handleAgentCode))
	s.handle("GET /api/v1/validator/agent-code/{sha256}", s.signed(agora.RoleValidator, DefaultMaxBody, s.handleValidatorAgentCode))
}

// AgentUploadRequest publishes a new agent version. Signature is the
// hotkey's sr25519 signature (hex, 0x optional) over
// agora.AgentUploadMessage(hotkey, SHA256, Version).
type AgentUploadRequest struct {
	Version   int    `json:"version"`
	Code      string `json:"code"`
	SHA256    string `json:"sha256"`
	Signature string `json:"signature"`
}

// LeagueResponse is a league with its standings: final versions by score
// (ties to the older), then the ones still running.
type LeagueResponse struct {
	*agora.League
	Standings []*agora.Agent `json:"standings"`
	Running   []*agora.Agent `json:"running"`
}

func (s *Server) handlePutLeague(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var l agora.League
	if err := decodeJSON(body, &l); err != nil {
		return err
	}
	l.Competition = r.PathValue("competition")
	l.CreatedBy = who
	if err := s.Coordinator.PutLeague(r.Context(), &l); err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, &l)
	return nil
}

func (s *Server) handleGetLeague(w http.ResponseWriter, r *http.Request) error {
	l, standings, running, err := s.Coordinator.LeagueStandings(r.Context(), r.PathValue("competition"))
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, &LeagueResponse{League: l, Standings: standings, Running: running})
	return nil
}

// handleUploadAgent publishes a new version (coordinator.UploadAgent).
func (s *Server) handleUploadAgent(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var req AgentUploadRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	a := &agora.Agent{Competition: r.PathValue("competition"), Miner: who, Version: req.Version}
	if err := s.Coordinator.UploadAgent(r.Context(), a, []byte(req.Code), req.SHA256, req.Signature); err != nil {
		return err
	}
	s.reply(w, r, http.StatusCreated, a)
	return nil
}

func (s *Server) handleListAgents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	f := agora.AgentFilter{Offset: offset, Limit: limit}
	if v := q.Get("competition"); v != "" {
		f.Competition = &v
	}
	if v := q.Get("miner_hotkey"); v != "" {
		f.Miner = &v
	}
	if v := q.Get("status"); v != "" {
		f.Status = &v
	}
	agents, total, err := s.Store.FindAgents(r.Context(), f)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, map[string]any{"agents": agents, "total": total})
	return nil
}

func (s *Server) handleGetAgent(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Store.FindAgentByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, a)
	return nil
}

// handleAgentCode serves a version's code: to anyone once it is public,
// before that only to its miner, owners and validators.
func (s *Server) handleAgentCode(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Store.FindAgentByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !a.CodePublic && !s.privileged(r) && agora.HotkeyFromContext(r.Context()) != a.Miner {
		if a.Final() {
			return agora.Errorf(agora.EFORBIDDEN, "agent %s: this league keeps code private", a.ID)
		}
		return agora.Errorf(agora.EFORBIDDEN, "agent %s: code is private until its evaluation ends (%s)", a.ID, a.Status)
	}
	code, err := s.Store.AgentCode(r.Context(), a.SHA256)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/x-python; charset=utf-8")
	w.Write(code)
	return nil
}

func (s *Server) handleValidatorAgentCode(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	code, err := s.Store.AgentCode(r.Context(), strings.ToLower(r.PathValue("sha256")))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/x-python; charset=utf-8")
	w.Write(code)
	return nil
}

// PutLeague creates or reconfigures the league of a competition (owner).
func (c *Client) PutLeague(ctx context.Context, l *agora.League) (*agora.League, error) {
	var out agora.League
	return &out, c.call(ctx, "PUT", "/api/v1/leagues/"+url.PathEscape(l.Competition), l, &out)
}

// League returns a league with its standings.
func (c *Client) League(ctx context.Context, competition string) (*LeagueResponse, error) {
	var out LeagueResponse
	return &out, c.call(ctx, "GET", "/api/v1/leagues/"+url.PathEscape(competition), nil, &out)
}

// UploadAgent publishes an agent version (miner).
func (c *Client) UploadAgent(ctx context.Context, competition string, req AgentUploadRequest) (*agora.Agent, error) {
	var out agora.Agent
	return &out, c.call(ctx, "POST", "/api/v1/leagues/"+url.PathEscape(competition)+"/agents", req, &out)
}

// Agent returns an agent version.
func (c *Client) Agent(ctx context.Context, id string) (*agora.Agent, error) {
	var out agora.Agent
	return &out, c.call(ctx, "GET", "/api/v1/agents/"+url.PathEscape(id), nil, &out)
}

// Agents lists agent versions (competition, miner_hotkey, status).
func (c *Client) Agents(ctx context.Context, query url.Values) ([]*agora.Agent, int, error) {
	var out struct {
		Agents []*agora.Agent `json:"agents"`
		Total  int            `json:"total"`
	}
	err := c.call(ctx, "GET", "/api/v1/agents?"+query.Encode(), nil, &out)
	return out.Agents, out.Total, err
}

// AgentCode returns league agent code by SHA-256 (validator).
func (c *Client) AgentCode(ctx context.Context, sha256Hex string) ([]byte, error) {
	var out []byte
	err := c.call(ctx, "GET", "/api/v1/validator/agent-code/"+url.PathEscape(sha256Hex), nil, &out)
	return out, err
}
