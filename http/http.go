// Package http is the coordinator's JSON API over HTTP: the server, with
// Epistula-signed requests, roles, rate limits, an event stream and
// Prometheus metrics, and a client that speaks the same API.
package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/clip"
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

// ListResponse is a page of records with the total that match.
type ListResponse[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

// pageParams reads limit and offset.
func pageParams(r *http.Request) (limit, offset int, err error) {
	q := r.URL.Query()
	for name, dst := range map[string]*int{"limit": &limit, "offset": &offset} {
		if v := q.Get(name); v != "" {
			n, e := strconv.Atoi(v)
			if e != nil || n < 0 {
				return 0, 0, agora.Errorf(agora.EINVALID, "%s: must be a non-negative integer", name)
			}
			*dst = n
		}
	}
	return limit, offset, nil
}

// optional reads a query parameter; nil when it is absent or empty.
func optional(r *http.Request, name string) *string {
	if v := r.URL.Query().Get(name); v != "" {
		return &v
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

// readCapped reads r's body, at most max bytes, and refuses more with
// ETOOLARGE whether the length was declared or the body is chunked. A
// declared length (already checked against max) is read into a buffer of
// exactly that size, which fills as the bytes arrive; an undeclared one
// grows by doubling up to max.
func readCapped(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	// MaxBytesReader marks the connection for closing through the
	// server's own ResponseWriter, not a wrapper.
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	body := http.MaxBytesReader(w, r.Body, max)
	tooLarge := func(err error) error {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return agora.Errorf(agora.ETOOLARGE, "body: larger than %d bytes", max)
		}
		return agora.Errorf(agora.EINVALID, "body: %v", err)
	}
	if n := r.ContentLength; n >= 0 {
		if n > max {
			return nil, agora.Errorf(agora.ETOOLARGE, "body: %d bytes declared, at most %d", n, max)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(body, b); err != nil {
			return nil, tooLarge(err)
		}
		return b, nil
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(max, 64<<10)))
	if _, err := buf.ReadFrom(body); err != nil {
		return nil, tooLarge(err)
	}
	return buf.Bytes(), nil
}

// BodyTargetField is the JSON member by which a plain Epistula body names
// the request it authorises, when the coordinator accepts plain Epistula:
// {"epistula_request_target": "POST /api/v1/tasks/x/close", ...}.
const BodyTargetField = "epistula_request_target"

// cutBodyTarget checks that body, a JSON object signed without
// Epistula-Request-Target, names want in its BodyTargetField member (once),
// and returns the body without that member, every other byte unchanged, so
// strict decoders and content hashes see what they would have. Refusals
// are EUNAUTHORIZED: the signature does not say which request it is for.
func cutBodyTarget(body []byte, want string) ([]byte, error) {
	refuse := func(format string, args ...any) ([]byte, error) {
		return nil, agora.Errorf(agora.EUNAUTHORIZED, "plain Epistula: "+format, args...)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return refuse("the body must be a JSON object whose %q member is %q (or sign the %s header)", BodyTargetField, want, "Epistula-Request-Target")
	}
	var (
		found      bool
		start, end int64 // the member's bytes, with one adjacent comma
		first      bool  // the member came first in the object
	)
	for i := 0; dec.More(); i++ {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return refuse("the body is not valid JSON")
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return refuse("the body is not valid JSON")
		}
		if key != BodyTargetField {
			continue
		}
		if found {
			return refuse("%q appears more than once", BodyTargetField)
		}
		var got string
		if json.Unmarshal(val, &got) != nil || got != want {
			return refuse("the body's %q is %s, but this request is %q", BodyTargetField, firstBytes(val, 80), want)
		}
		found, start, end, first = true, before, dec.InputOffset(), i == 0
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return refuse("the body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return refuse("unexpected data after the JSON object")
	}
	if !found {
		return refuse("the body must name the request in its %q member (%q), or sign the %s header", BodyTargetField, want, "Epistula-Request-Target")
	}
	// InputOffset after '{' or after the previous value leaves the comma
	// before a later member inside [start, end); a first member is followed
	// by the next member's comma instead, if there is one.
	if first {
		rest := bytes.TrimLeft(body[end:], " \t\r\n")
		if len(rest) > 0 && rest[0] == ',' {
			end = int64(len(body) - len(rest) + 1)
		}
	}
	out := make([]byte, 0, len(body)-int(end-start))
	out = append(append(out, body[:start]...), body[end:]...)
	return out, nil
}

// firstBytes quotes at most n bytes of b for an error message.
func firstBytes(b []byte, n int) string {
	return clip.String(string(b), n)
}
