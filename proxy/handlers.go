package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agoranet/agora/internal/clip"
)

// RunHeader names the run in multi-run mode (Handler).
const RunHeader = "X-Agora-Run"

// Handler serves every run, named by the X-Agora-Run header or a Ridges
// body's run_id, each with the Config's budget (or the one ForRun gave
// it). The clients must be trusted to name their own run.
func (p *Proxy) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, nil) })
}

// validRunID bounds what a run id can be in multi-run mode, where it comes
// from the client and ends up in logs and the ledger.
func validRunID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._:/@-", c) >= 0) {
			return false
		}
	}
	return true
}

// resolve finds the run a call is charged to. A run-scoped handler ignores
// what the request claims: its listener is its identity.
func (p *Proxy) resolve(r *http.Request, fixed *runState, bodyRun string) (*runState, *apiError) {
	if fixed != nil {
		return fixed, nil
	}
	id := r.Header.Get(RunHeader)
	if id == "" {
		id = bodyRun
	} else if bodyRun != "" && bodyRun != id {
		return nil, badRequest("run_id", "does not match the %s header", RunHeader)
	}
	if id == "" {
		return nil, &apiError{status: http.StatusBadRequest, typ: "unknown_run", msg: "no run: send the " + RunHeader + " header (or run_id in a Ridges body)"}
	}
	if !validRunID(id) {
		return nil, &apiError{status: http.StatusBadRequest, typ: "unknown_run", msg: "run id: 1 to 128 characters from A-Z a-z 0-9 . _ : / @ -"}
	}
	return p.run(id), nil
}

// routeFor finds an allowed model of the given kind, by its name or an
// alias of it (Config.Aliases).
func (p *Proxy) routeFor(model, kind string) (*route, *apiError) {
	rt := p.routes[model]
	if rt == nil {
		if target, ok := p.cfg.Aliases[model]; ok {
			rt = p.routes[target]
		}
	}
	if rt == nil {
		return nil, &apiError{status: http.StatusForbidden, typ: "model_not_allowed", param: "model",
			msg: fmt.Sprintf("model %q is not allowed; allowed: %s", clip.String(model, 64), strings.Join(p.names, ", "))}
	}
	if rt.Kind != kind {
		return nil, badRequest("model", "%q is an %s model, not an %s model", model, rt.Kind, kind)
	}
	return rt, nil
}

// serve routes one request. fixed is the run of a run-scoped handler.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, fixed *runState) {
	method := http.MethodPost
	var h func(http.ResponseWriter, *http.Request, *runState)
	switch r.URL.Path {
	case "/healthz":
		method, h = http.MethodGet, func(w http.ResponseWriter, _ *http.Request, _ *runState) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}
	case "/v1/models", "/models":
		method, h = http.MethodGet, p.serveModels
	case "/agora/budget":
		method, h = http.MethodGet, p.serveBudget
	case "/api/usage":
		method, h = http.MethodGet, p.serveRidgesUsage
	case "/api/inference-models":
		method, h = http.MethodGet, func(w http.ResponseWriter, _ *http.Request, _ *runState) { p.serveRidgesModels(w, KindInference) }
	case "/api/embedding-models":
		method, h = http.MethodGet, func(w http.ResponseWriter, _ *http.Request, _ *runState) { p.serveRidgesModels(w, KindEmbedding) }
	case "/v1/chat/completions", "/chat/completions":
		h = func(w http.ResponseWriter, r *http.Request, fixed *runState) { p.serveChat(w, r, fixed, formOpenAI) }
	case "/agents/inference":
		h = func(w http.ResponseWriter, r *http.Request, fixed *runState) { p.serveChat(w, r, fixed, formAgents) }
	case "/api/inference":
		h = func(w http.ResponseWriter, r *http.Request, fixed *runState) { p.serveChat(w, r, fixed, formAPI) }
	case "/v1/embeddings", "/embeddings":
		h = func(w http.ResponseWriter, r *http.Request, fixed *runState) {
			p.serveEmbedding(w, r, fixed, formOpenAI)
		}
	case "/agents/embedding":
		h = func(w http.ResponseWriter, r *http.Request, fixed *runState) {
			p.serveEmbedding(w, r, fixed, formAgents)
		}
	case "/api/embedding":
		h = func(w http.ResponseWriter, r *http.Request, fixed *runState) { p.serveEmbedding(w, r, fixed, formAPI) }
	default:
		p.refuse(w, fixed, &apiError{status: http.StatusNotFound, typ: "not_found", msg: "no such endpoint: " + clip.String(r.URL.Path, 64)})
		return
	}
	if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", method)
		p.refuse(w, fixed, &apiError{status: http.StatusMethodNotAllowed, typ: "method_not_allowed", msg: r.URL.Path + " takes " + method})
		return
	}
	h(w, r, fixed)
}

func (p *Proxy) serveModels(w http.ResponseWriter, _ *http.Request, _ *runState) {
	type price struct {
		Input  string `json:"input_usd_per_1m_tokens"`
		Output string `json:"output_usd_per_1m_tokens,omitempty"`
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		OwnedBy string `json:"owned_by"`
		Kind    string `json:"kind"`
		Price   price  `json:"price"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, m := range p.Models() {
		pr := price{Input: m.Price.Input.Decimal()}
		if m.Kind == KindInference {
			pr.Output = m.Price.Output.Decimal()
		}
		out.Data = append(out.Data, model{ID: m.Name, Object: "model", OwnedBy: m.Upstream, Kind: m.Kind, Price: pr})
	}
	writeJSON(w, http.StatusOK, out)
}

// ledgerView is a run's ledger at one moment.
type ledgerView struct {
	id               string
	spend            Spend
	budget           Budget
	reserved         Budget
	inflight, queued int
}

// usageOf reads the ledger of the run a GET names (the run-scoped
// handler's, the X-Agora-Run header's or runID), or refuses the request
// and returns ok false.
func (p *Proxy) usageOf(w http.ResponseWriter, r *http.Request, fixed *runState, runID string) (u ledgerView, ok bool) {
	rs, aerr := p.resolve(r, fixed, runID)
	if aerr != nil {
		p.refuse(w, nil, aerr)
		return u, false
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := p.load(r.Context(), rs); err != nil {
		p.refuse(w, rs, &apiError{status: http.StatusServiceUnavailable, typ: "unavailable", msg: "the proxy's ledger is unavailable; try again"})
		return u, false
	}
	return ledgerView{rs.id, rs.spend, rs.budget, rs.reserved, rs.inflight, len(rs.queue)}, true
}

// serveBudget tells a run what it has spent and may still spend, so an
// agent can plan instead of discovering its budget by a 402.
func (p *Proxy) serveBudget(w http.ResponseWriter, r *http.Request, fixed *runState) {
	u, ok := p.usageOf(w, r, fixed, "")
	if !ok {
		return
	}
	s, b, res := u.spend, u.budget, u.reserved
	type line struct {
		Spent          string `json:"spent_usd"`
		Budget         string `json:"budget_usd"`
		Reserved       string `json:"reserved_usd"`
		SpentMicros    int64  `json:"spent_micro_usd"`
		BudgetMicros   int64  `json:"budget_micro_usd"`
		ReservedMicros int64  `json:"reserved_micro_usd"`
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"run_id":        u.id,
		"inference":     line{s.Inference.Decimal(), b.Inference.Decimal(), res.Inference.Decimal(), int64(s.Inference), int64(b.Inference), int64(res.Inference)},
		"embedding":     line{s.Embedding.Decimal(), b.Embedding.Decimal(), res.Embedding.Decimal(), int64(s.Embedding), int64(b.Embedding), int64(res.Embedding)},
		"calls":         s.Calls,
		"refused_calls": s.Refused,
		"in_flight":     u.inflight,
		"queued":        u.queued,
	})
}

// serveRidgesUsage is Ridges' gateway GET /api/usage?evaluation_run_id=:
// one budget in US dollars as floats. The gateway has one cap for both
// kinds of call, so both of Agora's budgets are summed, and what calls in
// flight have reserved counts as used: an agent that plans on "remaining"
// must not plan on money already promised.
func (p *Proxy) serveRidgesUsage(w http.ResponseWriter, r *http.Request, fixed *runState) {
	q := r.URL.Query()
	runID := q.Get("evaluation_run_id")
	if runID == "" {
		runID = q.Get("run_id")
	}
	u, ok := p.usageOf(w, r, fixed, runID)
	if !ok {
		return
	}
	used := addSat(u.spend.Total(), addSat(u.reserved.Inference, u.reserved.Embedding))
	max := addSat(u.budget.Inference, u.budget.Embedding)
	remaining := max - used
	if remaining < 0 {
		remaining = 0
	}
	writeJSON(w, http.StatusOK, struct {
		Used      float64 `json:"used_cost_usd"`
		Remaining float64 `json:"remaining_cost_usd"`
		Max       float64 `json:"max_cost_usd"`
	}{used.USD(), remaining.USD(), max.USD()})
}

// serveRidgesModels is Ridges' gateway GET /api/inference-models and
// /api/embedding-models: the allowed models of one kind, priced per
// million tokens.
func (p *Proxy) serveRidgesModels(w http.ResponseWriter, kind string) {
	type info struct {
		Name         string   `json:"name"`
		ExternalName string   `json:"external_name"`
		MaxInput     int64    `json:"max_input_tokens"`
		PricingMode  string   `json:"pricing_mode,omitempty"`
		Input        float64  `json:"cost_usd_per_million_input_tokens"`
		Output       *float64 `json:"cost_usd_per_million_output_tokens,omitempty"`
		PerSecond    *float64 `json:"cost_usd_per_second,omitempty"`
	}
	out := []info{}
	for _, m := range p.Models() {
		if m.Kind != kind {
			continue
		}
		upstream := m.UpstreamModel
		if upstream == "" {
			upstream = m.Name
		}
		// Agora bounds a prompt by the request body cap, not by a token
		// count; a token is at least one byte of body.
		i := info{Name: m.Name, ExternalName: upstream, MaxInput: p.cfg.MaxBody, Input: m.Price.Input.USD()}
		if kind == KindInference {
			o := m.Price.Output.USD()
			i.Output = &o
		} else {
			i.PricingMode = "per_token"
		}
		out = append(out, i)
	}
	writeJSON(w, http.StatusOK, out)
}

// hinted is the run a request is charged to before its body is read: the
// run-scoped handler's, or the one the X-Agora-Run header names. It is
// only for counting a refusal; nil if there is none yet.
func (p *Proxy) hinted(r *http.Request, fixed *runState) *runState {
	if fixed != nil {
		return fixed
	}
	if id := r.Header.Get(RunHeader); validRunID(id) {
		return p.run(id)
	}
	return nil
}

func (p *Proxy) serveChat(w http.ResponseWriter, r *http.Request, fixed *runState, f form) {
	body, aerr := p.readBody(w, r)
	if aerr != nil {
		p.refuse(w, p.hinted(r, fixed), aerr)
		return
	}
	var c *chatRequest
	var err error
	if f != formOpenAI {
		c, err = parseRidgesInference(body, p.cfg.DefaultModel)
	} else {
		c, err = parseChat(body, p.extra)
	}
	if err != nil {
		p.refuse(w, p.hinted(r, fixed), asAPIError(err))
		return
	}
	if f == formAPI && c.bareContent {
		f = formAgents // the first gateway's answer: the content as a JSON string
	}
	rs, rt, ok := p.runAndRoute(w, r, fixed, c.runID, c.model, KindInference)
	if !ok {
		return
	}
	remote, aerr := p.checkRemote(c.remote)
	if aerr != nil {
		p.refuse(w, rs, aerr)
		return
	}
	outCap := c.capOutput(rt.MaxOutputTokens)
	fwd, ok := p.forwardBody(w, rs, rt, c.fields)
	if !ok {
		return
	}
	prompt := int64(len(fwd)) + promptPerCall + promptPerMessage*int64(c.messages) + remote*p.cfg.RemoteURLTokens
	p.forward(w, r, rs, newCall(KindInference, rt, fwd, prompt, outCap, c.stream, c.clientUsage, f))
}

func (p *Proxy) serveEmbedding(w http.ResponseWriter, r *http.Request, fixed *runState, f form) {
	body, aerr := p.readBody(w, r)
	if aerr != nil {
		p.refuse(w, p.hinted(r, fixed), aerr)
		return
	}
	var e *embeddingRequest
	var err error
	if f != formOpenAI {
		e, err = parseRidgesEmbedding(body, p.cfg.EmbeddingModel)
	} else {
		e, err = parseEmbedding(body, p.extra)
	}
	if err != nil {
		p.refuse(w, p.hinted(r, fixed), asAPIError(err))
		return
	}
	rs, rt, ok := p.runAndRoute(w, r, fixed, e.runID, e.model, KindEmbedding)
	if !ok {
		return
	}
	fwd, ok := p.forwardBody(w, rs, rt, e.fields)
	if !ok {
		return
	}
	// Every input's text (or token ids, at least two bytes each) is in
	// the body, as are the quotes and commas that outweigh the one or
	// two special tokens an embedding model adds per input.
	p.forward(w, r, rs, newCall(KindEmbedding, rt, fwd, int64(len(fwd))+promptPerCall, 0, false, false, f))
}

// runAndRoute finds the run a parsed call is charged to and the route of
// the model it names, or refuses the request and returns ok false.
func (p *Proxy) runAndRoute(w http.ResponseWriter, r *http.Request, fixed *runState, runID, model, kind string) (rs *runState, rt *route, ok bool) {
	rs, aerr := p.resolve(r, fixed, runID)
	if aerr != nil {
		p.refuse(w, p.hinted(r, fixed), aerr)
		return nil, nil, false
	}
	if rt, aerr = p.routeFor(model, kind); aerr != nil {
		p.refuse(w, rs, aerr)
		return nil, nil, false
	}
	return rs, rt, true
}

// forwardBody is the body sent upstream: the checked fields with the
// route's upstream model name. A body that cannot be encoded again (see
// encodeFields) is refused as the proxy's fault, not the run's, and ok is
// false.
func (p *Proxy) forwardBody(w http.ResponseWriter, rs *runState, rt *route, fields map[string]json.RawMessage) (fwd []byte, ok bool) {
	fields["model"] = rawJSON(rt.UpstreamModel)
	fwd, err := encodeFields(fields)
	if err != nil {
		p.refuse(w, rs, &apiError{status: http.StatusInternalServerError, typ: "internal_error", msg: "proxy: " + err.Error()})
		return nil, false
	}
	return fwd, true
}

// refuse answers a request the proxy will not forward, and counts it on
// the run's record when there is a run to count it on. The first refusal
// of each kind per run is logged at Info, the rest at Debug: a run looping
// on a 402 must not flood the validator's log.
func (p *Proxy) refuse(w http.ResponseWriter, rs *runState, e *apiError) {
	reason := e.reason()
	p.m.refusals.WithLabelValues(reason).Inc()
	level := slog.LevelDebug
	run := ""
	first := false
	if rs != nil {
		run = rs.id
		rs.mu.Lock()
		if !rs.logged[reason] {
			if rs.logged == nil {
				rs.logged = map[string]bool{}
			}
			rs.logged[reason] = true
			level, first = slog.LevelInfo, true
		}
		if !e.uncounted && !rs.ended {
			if rs.pending == nil {
				rs.pending = map[string]int64{}
			}
			rs.pending[reason]++
			if rs.loaded {
				rs.spend.Refused++
			}
		}
		rs.mu.Unlock()
	}
	p.log.LogAttrs(context.Background(), level, "refused", slog.String("run", run), slog.Int("status", e.status),
		slog.String("reason", reason), slog.String("message", e.msg))
	if first {
		// The first refusal of a reason reaches the ledger at once; the
		// rest go with the next settled call, or at EndRun.
		rs.mu.Lock()
		if err := p.load(context.Background(), rs); err != nil {
			p.log.Error("ledger totals", "run", rs.id, "err", err)
		}
		rs.mu.Unlock()
		p.flushRefusals(rs)
	}
	writeError(w, e)
}

// maxDrain bounds how much of a body over MaxBody the proxy reads and
// discards so the client can read its 413 instead of having its upload
// cut off; drainTimeout bounds how long it reads.
const (
	maxDrain     = 64 << 20
	drainTimeout = 30 * time.Second
)

// readBody reads at most MaxBody bytes. A larger body, declared or not,
// is refused with 413, and read to its end (up to maxDrain) first: a
// client that sends its whole body before reading the reply would
// otherwise have the connection reset under it and never see the 413.
func (p *Proxy) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	tooLarge := &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error", code: "request_too_large",
		msg: fmt.Sprintf("body: larger than %d bytes, the most this proxy accepts", p.cfg.MaxBody)}
	if r.ContentLength > p.cfg.MaxBody {
		p.drain(w, r, r.ContentLength)
		return nil, tooLarge
	}
	b, err := readAll(r.Body, p.cfg.MaxBody)
	if err == errTooLarge {
		p.drain(w, r, -1)
		return nil, tooLarge
	} else if err != nil {
		return nil, badRequest("body", "could not be read")
	}
	return b, nil
}

// drain discards the rest of a refused body, declared as n bytes (-1:
// not declared), or, when it is too large to read through or the client
// waits for "100 Continue" before sending it, has the server close the
// connection after the reply instead.
func (p *Proxy) drain(w http.ResponseWriter, r *http.Request, n int64) {
	if n > maxDrain || strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		w.Header().Set("Connection", "close")
		return
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(drainTimeout)) // not every ResponseWriter can; then the server's own timeouts apply
	if m, _ := io.Copy(io.Discard, io.LimitReader(r.Body, maxDrain+1)); m > maxDrain {
		w.Header().Set("Connection", "close")
	}
	rc.SetReadDeadline(time.Time{})
}

// apiError is an error answered to the run, in OpenAI's error shape so
// OpenAI clients surface the message.
type apiError struct {
	status         int
	typ            string
	code           string // OpenAI's error.code; empty is typ
	msg            string
	param          string
	upstreamStatus int
	retryAfter     int  // seconds, for the Retry-After header
	uncounted      bool // not a refusal of the run's call (a run that ended or hung up)
}

func (e *apiError) Error() string { return e.msg }

// reason is the refusal's machine-readable name: its code.
func (e *apiError) reason() string {
	if e.code != "" {
		return e.code
	}
	return e.typ
}

// asAPIError returns err as an *apiError; the parsers return nothing else,
// and anything else is still the client's bad request.
func asAPIError(err error) *apiError {
	if e, ok := err.(*apiError); ok {
		return e
	}
	return badRequest("body", "%v", err)
}

// ErrorBody is the JSON body of every error the proxy answers: OpenAI's
// shape, {"error": {"message", "type", "param", "code"}}, with param and
// code null when they do not apply.
type ErrorBody struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Param   string `json:"param"`
		Code    string `json:"code"`
		// UpstreamStatus is the status the upstream answered, on a 502.
		UpstreamStatus int `json:"upstream_status,omitempty"`
	} `json:"error"`
}

// MarshalJSON writes empty param and code as null, as OpenAI does.
func (b ErrorBody) MarshalJSON() ([]byte, error) {
	null := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	var out struct {
		Error struct {
			Message        string  `json:"message"`
			Type           string  `json:"type"`
			Param          *string `json:"param"`
			Code           *string `json:"code"`
			UpstreamStatus int     `json:"upstream_status,omitempty"`
		} `json:"error"`
	}
	e := &out.Error
	e.Message, e.Type, e.Param, e.Code, e.UpstreamStatus = b.Error.Message, b.Error.Type, null(b.Error.Param), null(b.Error.Code), b.Error.UpstreamStatus
	return encodeJSON(out), nil
}

// body is e as the client sees it.
func (e *apiError) body() ErrorBody {
	var b ErrorBody
	b.Error.Message, b.Error.Type, b.Error.Param, b.Error.Code, b.Error.UpstreamStatus = e.msg, e.typ, e.param, e.reason(), e.upstreamStatus
	return b
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	writeJSON(w, e.status, e.body())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
