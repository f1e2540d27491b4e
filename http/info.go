package http

import (
	"context"
	"net/http"

	"github.com/agoranet/agora"
)

// registerInfoRoutes registers health, readiness, metrics, the OpenAPI
// document and the coordinator's identity.
func (s *Server) registerInfoRoutes() {
	s.handle("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.handle("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Store.Ping(r.Context()); err != nil {
			writeError(w, r, s.Logger, agora.Errorf(agora.EUNAVAILABLE, "database: %v", err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s.handle("GET /metrics", s.metricsHandler().ServeHTTP)
	s.handle("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openapiJSON)
	})
	s.handle("GET /api/v1/info", s.public(s.handleInfo))
}

// Info is the body of GET /api/v1/info.
type Info struct {
	Address string `json:"address"`
	Version string `json:"version"`
}

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) error {
	s.reply(w, r, http.StatusOK, Info{Address: s.Address, Version: agora.Version})
	return nil
}

// CoordinatorAddress returns the coordinator's SS58 address.
func (c *Client) CoordinatorAddress(ctx context.Context) (string, error) {
	if err := c.init(ctx); err != nil {
		return "", err
	}
	return c.address, nil
}
