// Package fakeopenai is an OpenAI-compatible server for tests: chat
// completions (plain and streamed as server-sent events), embeddings and
// the model list, with scripted replies, exact usage, injected failures
// (error statuses, missing usage, slow or broken replies), and a record of
// every request it received so a test can assert what was sent upstream,
// and that nothing was.
package fakeopenai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Usage is the usage a reply reports.
type Usage struct {
	PromptTokens     int64
	CompletionTokens int64
}

// Reply scripts one answer. The zero Reply is a 200 with content "ok" and
// the default usage.
type Reply struct {
	// Status is the HTTP status; 0 is 200. A status other than 2xx is
	// sent with an OpenAI-shaped error carrying Error.
	Status int
	Error  string
	// Body, if set, is sent verbatim as the reply body (with Status):
	// for malformed or unusual replies.
	Body string
	// Content is the assistant's message; "" is "ok".
	Content string
	// Chunks are a stream's content deltas; nil splits Content into
	// words, keeping their spaces.
	Chunks []string
	// Embedding is the vector returned for every input; nil is a
	// deterministic vector derived from the input.
	Embedding []float64
	// Usage is the usage reported; nil is the default: 10 prompt tokens
	// and one completion token per chunk (embeddings: one per 4 bytes).
	Usage *Usage
	// NoUsage leaves usage out: no "usage" field, and no usage chunk in a
	// stream even when include_usage was asked for.
	NoUsage bool
	// Delay waits before the reply's headers; ChunkDelay between stream
	// events. Both end early if the client goes away.
	Delay      time.Duration
	ChunkDelay time.Duration
	// BreakStream ends a stream after its content, without finish,
	// usage or [DONE], as a dropped connection would.
	BreakStream bool
	// Release, if set, holds the reply until it is closed or the client
	// goes away: to keep calls in flight for as long as a test needs.
	Release <-chan struct{}
}

// Request is a request the server received.
type Request struct {
	Method, Path string
	Header       http.Header
	// Authorization is the Authorization header as received.
	Authorization string
	Body          []byte
	// Decoded from the body, when it is JSON.
	JSON         map[string]any
	Model        string
	Stream       bool
	IncludeUsage bool // stream_options.include_usage
	// MaxTokens is max_tokens or max_completion_tokens; 0 if neither.
	MaxTokens int64
}

// Server is the fake. Use New for a handler, Start for a running server.
type Server struct {
	// URL is the API base, ending in /v1, set by Start.
	URL string
	// APIKey, if set, is required as "Authorization: Bearer KEY"; other
	// requests get 401 (and are still recorded). Set it before the server
	// gets requests: it is read without a lock.
	APIKey string

	mu     sync.Mutex
	queue  []Reply
	handle func(Request) Reply
	reqs   []Request
	seq    int
	srv    *httptest.Server
}

// New returns a server that is not listening; it is an http.Handler.
func New() *Server { return &Server{} }

// Start returns a server listening on a loopback port. Close it.
func Start() *Server {
	s := New()
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL + "/v1"
	return s
}

// Close stops a started server.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// Enqueue adds replies, used one per request in order.
func (s *Server) Enqueue(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, replies...)
}

// SetHandle sets the function that decides replies once the queue is
// empty; nil restores the default reply.
func (s *Server) SetHandle(f func(Request) Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handle = f
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Count is the number of requests received.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// Last returns the last request; it panics if there is none.
func (s *Server) Last() Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

// Reset forgets requests and queued replies.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs, s.queue = nil, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Authorization: r.Header.Get("Authorization"), Body: body}
	if json.Unmarshal(body, &req.JSON) == nil {
		req.Model, _ = req.JSON["model"].(string)
		req.Stream, _ = req.JSON["stream"].(bool)
		if so, ok := req.JSON["stream_options"].(map[string]any); ok {
			req.IncludeUsage, _ = so["include_usage"].(bool)
		}
		for _, k := range []string{"max_tokens", "max_completion_tokens"} {
			if n, ok := req.JSON[k].(float64); ok {
				req.MaxTokens = int64(n)
			}
		}
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.seq++
	id := s.seq
	if s.APIKey != "" && req.Authorization != "Bearer "+s.APIKey {
		s.mu.Unlock()
		writeJSON(w, http.StatusUnauthorized, errorBody("invalid api key"))
		return
	}
	var reply Reply
	if len(s.queue) > 0 {
		reply, s.queue = s.queue[0], s.queue[1:]
	} else if s.handle != nil {
		h := s.handle
		s.mu.Unlock()
		reply = h(req)
		s.mu.Lock()
	}
	s.mu.Unlock()

	if !wait(r, reply.Release, reply.Delay) {
		return
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	if reply.Body != "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, reply.Body)
		return
	}
	if status < 200 || status > 299 {
		msg := reply.Error
		if msg == "" {
			msg = http.StatusText(status)
		}
		writeJSON(w, status, errorBody(msg))
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/chat/completions") && r.Method == http.MethodPost:
		if req.Stream {
			s.stream(w, r, req, reply, id)
		} else {
			s.complete(w, req, reply, id)
		}
	case strings.HasSuffix(r.URL.Path, "/embeddings") && r.Method == http.MethodPost:
		s.embed(w, req, reply)
	case strings.HasSuffix(r.URL.Path, "/models"):
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{}})
	default:
		writeJSON(w, http.StatusNotFound, errorBody("no such endpoint"))
	}
}

// wait holds a reply for release and delay; false if the client left.
func wait(r *http.Request, release <-chan struct{}, delay time.Duration) bool {
	if release != nil {
		select {
		case <-release:
		case <-r.Context().Done():
			return false
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		}
	}
	return true
}

func errorBody(msg string) map[string]any {
	return map[string]any{"error": map[string]any{"message": msg, "type": "server_error"}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (rp Reply) content() string {
	if rp.Content == "" {
		return "ok"
	}
	return rp.Content
}

func (rp Reply) chunks() []string {
	if rp.Chunks != nil {
		return rp.Chunks
	}
	var out []string
	for _, w := range strings.SplitAfter(rp.content(), " ") {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

func (rp Reply) usage(defCompletion int64) map[string]any {
	u := Usage{PromptTokens: 10, CompletionTokens: defCompletion}
	if rp.Usage != nil {
		u = *rp.Usage
	}
	return map[string]any{"prompt_tokens": u.PromptTokens, "completion_tokens": u.CompletionTokens,
		"total_tokens": u.PromptTokens + u.CompletionTokens}
}

const created = 1700000000 // fixed, so replies are reproducible

func (s *Server) complete(w http.ResponseWriter, req Request, rp Reply, id int) {
	out := map[string]any{
		"id": fmt.Sprintf("chatcmpl-fake-%d", id), "object": "chat.completion", "created": created, "model": req.Model,
		"choices": []any{map[string]any{
			"index": 0, "message": map[string]any{"role": "assistant", "content": rp.content()}, "finish_reason": "stop",
		}},
	}
	if !rp.NoUsage {
		out["usage"] = rp.usage(int64(len(rp.chunks())))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, req Request, rp Reply, id int) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	chunk := func(delta map[string]any, finish any) map[string]any {
		c := map[string]any{
			"id": fmt.Sprintf("chatcmpl-fake-%d", id), "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
		}
		if req.IncludeUsage {
			c["usage"] = nil // as OpenAI does on every chunk but the last
		}
		return c
	}
	send := func(v any) bool {
		var b bytes.Buffer
		b.WriteString("data: ")
		json.NewEncoder(&b).Encode(v) // ends with the line's newline
		b.WriteString("\n")
		if _, err := w.Write(b.Bytes()); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return wait(r, nil, rp.ChunkDelay)
	}
	if !send(chunk(map[string]any{"role": "assistant", "content": ""}, nil)) {
		return
	}
	parts := rp.chunks()
	for _, c := range parts {
		if !send(chunk(map[string]any{"content": c}, nil)) {
			return
		}
	}
	if rp.BreakStream {
		return
	}
	if !send(chunk(map[string]any{}, "stop")) {
		return
	}
	if req.IncludeUsage && !rp.NoUsage {
		if !send(map[string]any{
			"id": fmt.Sprintf("chatcmpl-fake-%d", id), "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"choices": []any{}, "usage": rp.usage(int64(len(parts))),
		}) {
			return
		}
	}
	io.WriteString(w, "data: [DONE]\n\n")
	if flusher != nil {
		flusher.Flush()
	}
}

func (s *Server) embed(w http.ResponseWriter, req Request, rp Reply) {
	var inputs []string
	switch in := req.JSON["input"].(type) {
	case string:
		inputs = []string{in}
	case []any:
		for _, x := range in {
			inputs = append(inputs, fmt.Sprint(x))
		}
	}
	data := []any{}
	total := 0
	for i, in := range inputs {
		vec := rp.Embedding
		if vec == nil {
			vec = []float64{float64(len(in)), 0.5, -0.25}
		}
		data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": vec})
		total += len(in)
	}
	out := map[string]any{"object": "list", "data": data, "model": req.Model}
	if !rp.NoUsage {
		u := Usage{PromptTokens: int64(total/4 + 1)}
		if rp.Usage != nil {
			u = *rp.Usage
		}
		out["usage"] = map[string]any{"prompt_tokens": u.PromptTokens, "total_tokens": u.PromptTokens}
	}
	writeJSON(w, http.StatusOK, out)
}
