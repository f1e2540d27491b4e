// Package proxy is a sandboxed run's only way out: an inference and
// embedding proxy in front of OpenAI-compatible providers that meters every
// call against the run's budget.
//
// It speaks OpenAI's API (POST /v1/chat/completions, streaming or not, POST
// /v1/embeddings, GET /v1/models) and Ridges' two forms (POST
// /agents/inference, POST /agents/embedding), so agents written for either
// work unchanged; GET /agora/budget tells a run what it has left, and GET
// /healthz answers probes.
//
// Metering is what Ridges got wrong, and the reason for most of this code:
// every call is charged from the usage the provider reports (prompt and
// completion tokens times the configured prices, in integer micro-dollars);
// a reply without usage is charged a conservative estimate, never nothing;
// spend is recorded in a Ledger and never forgotten while the run lives; and
// a run that has reached its budget gets HTTP 402 with a JSON error, never a
// 200 carrying an error string.
//
// A validator gives each run its own handler, ForRun, served on a listener
// inside that run's network namespace: the listener is the run's identity,
// so a run cannot spend another's budget whatever it puts in its requests.
// Handler serves many runs at once for the standalone `agora proxy`, with
// the run named by the X-Agora-Run header or the Ridges run_id field; that
// mode trusts its clients to name their own run.
package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agoranet/agora"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for zero Config fields.
const (
	DefaultBudget      Micros = 2 * MicrosPerUSD // per run, inference and embeddings each
	DefaultMaxTokens          = 4096
	DefaultMaxInFlight        = 4
	DefaultMaxBody            = 1 << 20
	DefaultMaxResponse        = 32 << 20
	DefaultTimeout            = 5 * time.Minute
)

// RunHeader names the run in multi-run mode (Handler).
const RunHeader = "X-Agora-Run"

// Upstream is an OpenAI-compatible provider.
type Upstream struct {
	Name string
	// BaseURL is the API root the paths /chat/completions and
	// /embeddings are appended to, e.g. https://api.openai.com/v1.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer KEY"; empty sends none
	// (a local server). Runs never see it.
	APIKey string
	// Timeout bounds one call, streaming included; 0 is Config.Timeout.
	Timeout time.Duration
}

// Model is an allowed model: its upstream and its price. A model that is
// not listed is refused before anything is sent upstream.
type Model struct {
	// Name is what runs ask for.
	Name string
	// Kind is KindInference (the default) or KindEmbedding.
	Kind string
	// Upstream names the provider; it may be empty when there is one.
	Upstream string
	// UpstreamModel is the name sent upstream; empty is Name.
	UpstreamModel string
	// Price must be positive: a model the proxy does not know how to
	// charge for would be free, and budgets would mean nothing.
	Price Price
}

// Budget is what one run may spend. A zero field is the Config's default.
type Budget struct {
	Inference Micros
	Embedding Micros
}

func (b Budget) of(kind string) Micros {
	if kind == KindEmbedding {
		return b.Embedding
	}
	return b.Inference
}

// withDefaults fills zero fields from def.
func (b Budget) withDefaults(def Budget) Budget {
	if b.Inference <= 0 {
		b.Inference = def.Inference
	}
	if b.Embedding <= 0 {
		b.Embedding = def.Embedding
	}
	return b
}

// Config configures a Proxy. Set the fields, then call New.
type Config struct {
	Upstreams []Upstream
	Models    []Model // the allowlist
	// Budget is each run's budget unless ForRun gives one; zero fields
	// are DefaultBudget.
	Budget Budget
	// MaxTokens caps max_tokens (and max_completion_tokens) of every
	// chat call, and is set when a run sends neither. With MaxInFlight it
	// bounds how far a run can overshoot its budget: calls already in
	// flight when the budget is reached still complete and are charged.
	MaxTokens int64
	// MaxInFlight is how many calls one run may have in flight; more get
	// HTTP 429.
	MaxInFlight int
	// MaxBody caps a request body (default 1 MiB); MaxResponse caps an
	// upstream reply or stream (default 32 MiB).
	MaxBody     int64
	MaxResponse int64
	// Timeout bounds one upstream call (default 5m); Upstream.Timeout
	// overrides it per provider.
	Timeout time.Duration
	// DefaultModel is used by /agents/inference when the body names no
	// model; empty means the model is required.
	DefaultModel string
	// EmbeddingModel is the model /agents/embedding uses (that form names
	// none); empty means the only embedding model, if there is one.
	EmbeddingModel string
	// ExtraFields are request fields forwarded besides the built-in
	// allowlist, for provider extensions.
	ExtraFields []string
	// Ledger records calls; nil is a new MemoryLedger.
	Ledger Ledger
	Logger *slog.Logger
	// Registerer receives the proxy's metrics; nil keeps them
	// unregistered.
	Registerer prometheus.Registerer
	// Client sends upstream calls; nil is a client that follows no
	// redirects. It needs no Timeout: each call has its own deadline.
	Client *http.Client
	Now    func() time.Time
}

// Proxy is the metering proxy. Build it with New; it is safe for
// concurrent use.
type Proxy struct {
	cfg       Config
	routes    map[string]*route
	names     []string // allowed model names, sorted
	extra     map[string]bool
	log       *slog.Logger
	m         *metrics
	mu        sync.Mutex
	runs      map[string]*runState
	ledgerCtx time.Duration // how long a ledger write may take
}

// route is an allowed model with its resolved upstream.
type route struct {
	Model
	up *Upstream
}

// New checks cfg, fills defaults and returns the proxy.
func New(cfg Config) (*Proxy, error) {
	if len(cfg.Upstreams) == 0 {
		return nil, agora.Errorf(agora.EINVALID, "proxy: at least one upstream is required")
	}
	ups := map[string]*Upstream{}
	for i := range cfg.Upstreams {
		u := cfg.Upstreams[i] // a copy: the caller's slice stays theirs
		if u.Name == "" {
			return nil, agora.Errorf(agora.EINVALID, "proxy: upstream %d has no name", i)
		}
		if ups[u.Name] != nil {
			return nil, agora.Errorf(agora.EINVALID, "proxy: upstream %q listed twice", u.Name)
		}
		pu, err := url.Parse(u.BaseURL)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return nil, agora.Errorf(agora.EINVALID, "proxy: upstream %q: base URL %q is not an http(s) URL", u.Name, u.BaseURL)
		}
		u.BaseURL = strings.TrimRight(u.BaseURL, "/")
		if u.Timeout < 0 {
			return nil, agora.Errorf(agora.EINVALID, "proxy: upstream %q: negative timeout", u.Name)
		}
		ups[u.Name] = &u
	}
	p := &Proxy{routes: map[string]*route{}, runs: map[string]*runState{}, extra: map[string]bool{}, ledgerCtx: 10 * time.Second}
	var embeddings []string
	for _, m := range cfg.Models {
		if m.Name == "" || len(m.Name) > maxModelName {
			return nil, agora.Errorf(agora.EINVALID, "proxy: a model needs a name of 1 to %d bytes", maxModelName)
		}
		if p.routes[m.Name] != nil {
			return nil, agora.Errorf(agora.EINVALID, "proxy: model %q listed twice", m.Name)
		}
		if m.Kind == "" {
			m.Kind = KindInference
		}
		if m.Kind != KindInference && m.Kind != KindEmbedding {
			return nil, agora.Errorf(agora.EINVALID, "proxy: model %q: kind %q is neither %s nor %s", m.Name, m.Kind, KindInference, KindEmbedding)
		}
		if m.Upstream == "" && len(ups) == 1 {
			m.Upstream = cfg.Upstreams[0].Name
		}
		up := ups[m.Upstream]
		if up == nil {
			return nil, agora.Errorf(agora.EINVALID, "proxy: model %q: no upstream %q (name one of the upstreams)", m.Name, m.Upstream)
		}
		if m.Price.Input <= 0 || (m.Kind == KindInference && m.Price.Output <= 0) || m.Price.Output < 0 {
			return nil, agora.Errorf(agora.EINVALID, "proxy: model %q has no price: every allowed model needs a positive input price (and output price, for inference)", m.Name)
		}
		if m.UpstreamModel == "" {
			m.UpstreamModel = m.Name
		}
		p.routes[m.Name] = &route{Model: m, up: up}
		p.names = append(p.names, m.Name)
		if m.Kind == KindEmbedding {
			embeddings = append(embeddings, m.Name)
		}
	}
	if len(p.routes) == 0 {
		return nil, agora.Errorf(agora.EINVALID, "proxy: no model is allowed")
	}
	sort.Strings(p.names)
	if cfg.DefaultModel != "" {
		if r := p.routes[cfg.DefaultModel]; r == nil || r.Kind != KindInference {
			return nil, agora.Errorf(agora.EINVALID, "proxy: default model %q is not an allowed inference model", cfg.DefaultModel)
		}
	}
	if cfg.EmbeddingModel == "" && len(embeddings) == 1 {
		cfg.EmbeddingModel = embeddings[0]
	}
	if cfg.EmbeddingModel != "" {
		if r := p.routes[cfg.EmbeddingModel]; r == nil || r.Kind != KindEmbedding {
			return nil, agora.Errorf(agora.EINVALID, "proxy: embedding model %q is not an allowed embedding model", cfg.EmbeddingModel)
		}
	}
	cfg.Budget = cfg.Budget.withDefaults(Budget{Inference: DefaultBudget, Embedding: DefaultBudget})
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxResponse <= 0 {
		cfg.MaxResponse = DefaultMaxResponse
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	for _, f := range cfg.ExtraFields {
		p.extra[f] = true
	}
	if cfg.Ledger == nil {
		cfg.Ledger = &MemoryLedger{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		cfg.Client = &http.Client{
			Transport: t,
			// A redirect would re-send the body somewhere the operator
			// did not configure; treat it as an upstream error instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	p.cfg = cfg
	p.log = cfg.Logger.With("component", "proxy")
	p.m = newMetrics()
	if cfg.Registerer != nil {
		if err := p.m.register(cfg.Registerer); err != nil {
			return nil, agora.Errorf(agora.EINVALID, "proxy: metrics: %v", err)
		}
	}
	return p, nil
}

// Models lists the allowed models, sorted by name.
func (p *Proxy) Models() []Model {
	out := make([]Model, 0, len(p.names))
	for _, n := range p.names {
		out = append(out, p.routes[n].Model)
	}
	return out
}

// runState is one run's budget and running spend. The spend in memory is
// authoritative while the process lives; the ledger is read once, the
// first time the run is admitted, to carry on after a restart.
type runState struct {
	id       string
	mu       sync.Mutex
	budget   Budget
	spend    Spend
	loaded   bool
	inflight int
	ended    bool
	wg       sync.WaitGroup  // calls in flight, for EndRun
	logged   map[string]bool // refusal reasons already logged at Info
}

// load reads the run's past spend from the ledger; rs.mu is held.
func (p *Proxy) load(ctx context.Context, rs *runState) error {
	if rs.loaded {
		return nil
	}
	s, err := p.cfg.Ledger.Totals(ctx, rs.id)
	if err != nil {
		return err
	}
	rs.spend, rs.loaded = s, true
	return nil
}

// run returns the state of a run, creating it with the default budget.
func (p *Proxy) run(id string) *runState {
	p.mu.Lock()
	defer p.mu.Unlock()
	rs := p.runs[id]
	if rs == nil {
		rs = &runState{id: id, budget: p.cfg.Budget}
		p.runs[id] = rs
	}
	return rs
}

// ForRun returns the handler for one run, to be served where only that run
// can reach it. Every call through it is charged to runID, whatever run
// the request names. A zero budget field is the Config's default. Calling
// ForRun again for the same run changes its budget and keeps its spend.
// runID must not be empty.
func (p *Proxy) ForRun(runID string, budget Budget) http.Handler {
	if runID == "" {
		panic("proxy: ForRun with an empty run id")
	}
	p.mu.Lock()
	rs := p.runs[runID]
	if rs == nil || rs.ended {
		rs = &runState{id: runID}
		p.runs[runID] = rs
	}
	p.mu.Unlock()
	rs.mu.Lock()
	rs.budget = budget.withDefaults(p.cfg.Budget)
	rs.mu.Unlock()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, rs) })
}

// Handler serves every run, named by the X-Agora-Run header or a Ridges
// body's run_id, each with the Config's budget (or the one ForRun gave
// it). The clients must be trusted to name their own run.
func (p *Proxy) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, nil) })
}

// Spend returns what a run has spent so far. It includes calls still in
// flight only once they finish; EndRun waits for them.
func (p *Proxy) Spend(runID string) Spend {
	ctx, cancel := context.WithTimeout(context.Background(), p.ledgerCtx)
	defer cancel()
	p.mu.Lock()
	rs := p.runs[runID]
	p.mu.Unlock()
	if rs != nil {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if err := p.load(ctx, rs); err != nil {
			p.log.Error("ledger totals", "run", runID, "err", err)
		}
		return rs.spend
	}
	s, err := p.cfg.Ledger.Totals(ctx, runID)
	if err != nil {
		p.log.Error("ledger totals", "run", runID, "err", err)
	}
	return s
}

// EndRun refuses the run's further calls (HTTP 410), waits for its calls in
// flight to finish or ctx to end, forgets the run's in-memory state and
// returns its final spend: what the validator puts in the run's result.
func (p *Proxy) EndRun(ctx context.Context, runID string) (Spend, error) {
	p.mu.Lock()
	rs := p.runs[runID]
	p.mu.Unlock()
	if rs == nil {
		return p.cfg.Ledger.Totals(ctx, runID)
	}
	rs.mu.Lock()
	rs.ended = true // admit checks it under rs.mu, so wg gets no new Add
	rs.mu.Unlock()
	done := make(chan struct{})
	go func() { rs.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		rs.mu.Lock()
		defer rs.mu.Unlock()
		return rs.spend, ctx.Err()
	}
	p.mu.Lock()
	if p.runs[runID] == rs {
		delete(p.runs, runID)
	}
	p.mu.Unlock()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := p.load(ctx, rs); err != nil {
		return Spend{}, err
	}
	return rs.spend, nil
}

// admit lets a call through or says why not: the run has ended, spent its
// budget for this kind of call, or has too many calls in flight.
func (p *Proxy) admit(ctx context.Context, rs *runState, kind string) *apiError {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.ended {
		return &apiError{status: http.StatusGone, typ: "run_ended", msg: fmt.Sprintf("run %s has ended", rs.id)}
	}
	if err := p.load(ctx, rs); err != nil {
		p.log.Error("ledger totals", "run", rs.id, "err", err)
		return &apiError{status: http.StatusServiceUnavailable, typ: "unavailable", msg: "the proxy's ledger is unavailable; try again"}
	}
	if spent, budget := rs.spend.of(kind), rs.budget.of(kind); spent >= budget {
		return &apiError{status: http.StatusPaymentRequired, typ: "budget_exhausted",
			msg: fmt.Sprintf("run %s spent %s of its %s %s budget", rs.id, spent, budget.Short(), kind)}
	}
	if rs.inflight >= p.cfg.MaxInFlight {
		return &apiError{status: http.StatusTooManyRequests, typ: "concurrency_limit",
			msg: fmt.Sprintf("run %s already has %d calls in flight, the most allowed; wait for one to finish", rs.id, rs.inflight)}
	}
	rs.inflight++
	rs.wg.Add(1)
	p.m.inflight.Inc()
	return nil
}

// settle charges a finished call to its run, records it and logs it. It
// runs before the reply is written (after the stream, for streams), so
// the next call sees the charge.
func (p *Proxy) settle(rs *runState, e *Entry, stream bool) {
	e.Duration = p.cfg.Now().Sub(e.Time)
	rs.mu.Lock()
	rs.spend.add(*e)
	rs.inflight--
	rs.mu.Unlock()
	p.m.inflight.Dec()
	// The run may have hung up; the charge is recorded regardless.
	ctx, cancel := context.WithTimeout(context.Background(), p.ledgerCtx)
	if err := p.cfg.Ledger.Record(ctx, *e); err != nil {
		p.m.ledgerErrors.Inc()
		p.log.Error("ledger record", "run", e.RunID, "cost_micros", int64(e.Cost), "err", err)
	}
	cancel()
	rs.wg.Done()
	p.m.observe(e)
	level := slog.LevelInfo
	if e.Status != StatusOK {
		level = slog.LevelWarn
	}
	p.log.LogAttrs(context.Background(), level, "call",
		slog.String("run", e.RunID), slog.String("kind", e.Kind), slog.String("model", e.Model),
		slog.String("upstream", e.Upstream), slog.Bool("stream", stream),
		slog.Int64("prompt_tokens", e.PromptTokens), slog.Int64("completion_tokens", e.CompletionTokens),
		slog.Bool("estimated", e.Estimated), slog.String("cost", e.Cost.String()), slog.Int64("cost_micros", int64(e.Cost)),
		slog.String("status", e.Status), slog.Int("upstream_status", e.HTTPStatus), slog.Int64("ms", e.Duration.Milliseconds()))
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

// routeFor finds an allowed model of the given kind.
func (p *Proxy) routeFor(model, kind string) (*route, *apiError) {
	rt := p.routes[model]
	if rt == nil {
		return nil, &apiError{status: http.StatusForbidden, typ: "model_not_allowed", param: "model",
			msg: fmt.Sprintf("model %q is not allowed; allowed: %s", truncate(model, 64), strings.Join(p.names, ", "))}
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
	case "/v1/chat/completions", "/chat/completions":
		h = func(w http.ResponseWriter, r *http.Request, fixed *runState) { p.serveChat(w, r, fixed, false) }
	case "/agents/inference":
		h = func(w http.ResponseWriter, r *http.Request, fixed *runState) { p.serveChat(w, r, fixed, true) }
	case "/v1/embeddings", "/embeddings":
		h = func(w http.ResponseWriter, r *http.Request, fixed *runState) { p.serveEmbedding(w, r, fixed, false) }
	case "/agents/embedding":
		h = func(w http.ResponseWriter, r *http.Request, fixed *runState) { p.serveEmbedding(w, r, fixed, true) }
	default:
		p.refuse(w, nil, &apiError{status: http.StatusNotFound, typ: "not_found", msg: "no such endpoint: " + truncate(r.URL.Path, 64)})
		return
	}
	if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", method)
		p.refuse(w, nil, &apiError{status: http.StatusMethodNotAllowed, typ: "method_not_allowed", msg: r.URL.Path + " takes " + method})
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

// serveBudget tells a run what it has spent and may still spend, so an
// agent can plan instead of discovering its budget by a 402.
func (p *Proxy) serveBudget(w http.ResponseWriter, r *http.Request, fixed *runState) {
	rs, aerr := p.resolve(r, fixed, "")
	if aerr != nil {
		p.refuse(w, nil, aerr)
		return
	}
	rs.mu.Lock()
	if err := p.load(r.Context(), rs); err != nil {
		rs.mu.Unlock()
		p.refuse(w, rs, &apiError{status: http.StatusServiceUnavailable, typ: "unavailable", msg: "the proxy's ledger is unavailable; try again"})
		return
	}
	s, b := rs.spend, rs.budget
	rs.mu.Unlock()
	type line struct {
		Spent        string `json:"spent_usd"`
		Budget       string `json:"budget_usd"`
		SpentMicros  int64  `json:"spent_micro_usd"`
		BudgetMicros int64  `json:"budget_micro_usd"`
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"run_id":    rs.id,
		"inference": line{s.Inference.Decimal(), b.Inference.Decimal(), int64(s.Inference), int64(b.Inference)},
		"embedding": line{s.Embedding.Decimal(), b.Embedding.Decimal(), int64(s.Embedding), int64(b.Embedding)},
		"calls":     s.Calls,
	})
}

func (p *Proxy) serveChat(w http.ResponseWriter, r *http.Request, fixed *runState, ridges bool) {
	body, aerr := p.readBody(w, r)
	if aerr != nil {
		p.refuse(w, fixed, aerr)
		return
	}
	var c *chatRequest
	var err error
	if ridges {
		c, err = parseRidgesInference(body, p.cfg.MaxTokens, p.cfg.DefaultModel)
	} else {
		c, err = parseChat(body, p.cfg.MaxTokens, p.extra)
	}
	if err != nil {
		p.refuse(w, fixed, asAPIError(err))
		return
	}
	rs, aerr := p.resolve(r, fixed, c.runID)
	if aerr != nil {
		p.refuse(w, nil, aerr)
		return
	}
	rt, aerr := p.routeFor(c.model, KindInference)
	if aerr != nil {
		p.refuse(w, rs, aerr)
		return
	}
	c.fields["model"] = rawJSON(rt.UpstreamModel)
	p.forward(w, r, rs, &call{kind: KindInference, route: rt, body: encodeFields(c.fields), stream: c.stream,
		clientUsage: c.clientUsage, maxTokens: c.maxTokens, ridges: ridges})
}

func (p *Proxy) serveEmbedding(w http.ResponseWriter, r *http.Request, fixed *runState, ridges bool) {
	body, aerr := p.readBody(w, r)
	if aerr != nil {
		p.refuse(w, fixed, aerr)
		return
	}
	var e *embeddingRequest
	var err error
	if ridges {
		if p.cfg.EmbeddingModel == "" {
			p.refuse(w, fixed, &apiError{status: http.StatusNotFound, typ: "not_found", msg: "this proxy has no embedding model for /agents/embedding"})
			return
		}
		e, err = parseRidgesEmbedding(body, p.cfg.EmbeddingModel)
	} else {
		e, err = parseEmbedding(body, p.extra)
	}
	if err != nil {
		p.refuse(w, fixed, asAPIError(err))
		return
	}
	rs, aerr := p.resolve(r, fixed, e.runID)
	if aerr != nil {
		p.refuse(w, nil, aerr)
		return
	}
	rt, aerr := p.routeFor(e.model, KindEmbedding)
	if aerr != nil {
		p.refuse(w, rs, aerr)
		return
	}
	e.fields["model"] = rawJSON(rt.UpstreamModel)
	p.forward(w, r, rs, &call{kind: KindEmbedding, route: rt, body: encodeFields(e.fields), ridges: ridges})
}

// refuse answers a request the proxy will not forward. The first refusal
// of each kind per run is logged at Info, the rest at Debug: a run looping
// on a 402 must not flood the validator's log.
func (p *Proxy) refuse(w http.ResponseWriter, rs *runState, e *apiError) {
	p.m.refusals.WithLabelValues(e.typ).Inc()
	level := slog.LevelDebug
	run := ""
	if rs != nil {
		run = rs.id
		rs.mu.Lock()
		if !rs.logged[e.typ] {
			if rs.logged == nil {
				rs.logged = map[string]bool{}
			}
			rs.logged[e.typ] = true
			level = slog.LevelInfo
		}
		rs.mu.Unlock()
	}
	p.log.LogAttrs(context.Background(), level, "refused", slog.String("run", run), slog.Int("status", e.status),
		slog.String("reason", e.typ), slog.String("message", e.msg))
	writeError(w, e)
}

// readBody reads at most MaxBody bytes.
func (p *Proxy) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	tooLarge := &apiError{status: http.StatusRequestEntityTooLarge, typ: "request_too_large",
		msg: fmt.Sprintf("body: larger than %d bytes", p.cfg.MaxBody)}
	if r.ContentLength > p.cfg.MaxBody {
		return nil, tooLarge
	}
	b, err := readAll(http.MaxBytesReader(w, r.Body, p.cfg.MaxBody), p.cfg.MaxBody)
	if err == errTooLarge {
		return nil, tooLarge
	} else if err != nil {
		return nil, badRequest("body", "could not be read")
	}
	return b, nil
}

// apiError is an error answered to the run, in OpenAI's error shape so
// OpenAI clients surface the message.
type apiError struct {
	status         int
	typ            string
	msg            string
	param          string
	upstreamStatus int
}

func (e *apiError) Error() string { return e.msg }

// asAPIError returns err as an *apiError; the parsers return nothing else,
// and anything else is still the client's bad request.
func asAPIError(err error) *apiError {
	if e, ok := err.(*apiError); ok {
		return e
	}
	return badRequest("body", "%v", err)
}

// ErrorBody is the JSON body of every error the proxy answers.
type ErrorBody struct {
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Param   string `json:"param,omitempty"`
		// UpstreamStatus is the status the upstream answered, on a 502.
		UpstreamStatus int `json:"upstream_status,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	var b ErrorBody
	b.Error.Type, b.Error.Message, b.Error.Param, b.Error.UpstreamStatus = e.typ, e.msg, e.param, e.upstreamStatus
	if e.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
