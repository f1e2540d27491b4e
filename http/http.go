// Package http is the coordinator's JSON API over HTTP: the server, with
// Epistula-signed requests, roles, rate limits, an event stream and
// Prometheus metrics, and a client that speaks the same API.
package http

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/agoranet/agora"
)

// codes maps domain error codes to HTTP statuses; the client reverses it.
var codes = map[string]int{
	agora.EINVALID:       http.StatusBadRequest,
	agora.EUNAUTHORIZED:  http.StatusUnauthorized,
	agora.EFORBIDDEN:     http.StatusForbidden,
	agora.ENOTFOUND:      http.StatusNotFound,
	agora.ECONFLICT:      http.StatusConflict,
	agora.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	agora.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	agora.ERATELIMIT:     http.StatusTooManyRequests,
	agora.EUNAVAILABLE:   http.StatusServiceUnavailable,
	agora.EINTERNAL:      http.StatusInternalServerError,
}

// ErrorStatusCode returns the HTTP status for a domain error code.
func ErrorStatusCode(code string) int {
	if s, ok := codes[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// FromErrorStatusCode returns the domain code for an HTTP status.
func FromErrorStatusCode(status int) string {
	for k, v := range codes {
		if v == status {
			return k
		}
	}
	return agora.EINTERNAL
}

// ErrorResponse is the body of every error reply.
type ErrorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError sends err with its status; internal errors are logged and
// answered with a generic message.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code, msg := agora.ErrorCode(err), agora.ErrorMessage(err)
	if code == agora.EINTERNAL {
		log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var resp ErrorResponse
	resp.Error.Code, resp.Error.Message = code, msg
	writeJSON(w, ErrorStatusCode(code), resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// Compact on purpose: embedded raw JSON (a replay spec) must reach
	// the client byte for byte, or its content hash would not match.
	json.NewEncoder(w).Encode(v)
}

// decodeJSON decodes body strictly into v: unknown fields and trailing data
// are errors, and the message names the field.
func decodeJSON(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return agora.Errorf(agora.EINVALID, "body: a JSON object is required")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return agora.Errorf(agora.EINVALID, "%s: expected %s, got JSON %s", te.Field, te.Type, te.Value)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return agora.Errorf(agora.EINVALID, "body: invalid JSON: it ends in the middle of a value")
		case errors.As(err, &se):
			return agora.Errorf(agora.EINVALID, "body: invalid JSON at byte %d: %v", se.Offset, err)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return agora.Errorf(agora.EINVALID, "%s: unknown field", strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
		}
		return agora.Errorf(agora.EINVALID, "body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return agora.Errorf(agora.EINVALID, "body: unexpected data after the JSON value")
	}
	return nil
}

// readBody reads at most max bytes; more is ETOOLARGE.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, agora.Errorf(agora.EINVALID, "body: %v", err)
	}
	if int64(len(b)) > max {
		return nil, agora.Errorf(agora.ETOOLARGE, "body: larger than %d bytes", max)
	}
	return b, nil
}
