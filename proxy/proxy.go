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
// Metering is what Ridges got wrong, and the reason for most of this code.
// Before a call goes upstream, its worst case is reserved against the
// run's budget: a bound on its prompt tokens read from the body, times the
// input price, plus its completion cap times the output price. A call
// whose worst case does not fit what is left is refused with HTTP 402, so
// spend plus reservations never exceed the budget, however many calls a
// run makes at once. When the call ends it is charged from the usage the
// provider reports (in integer micro-dollars) and the rest of its
// reservation is released; a reply without usage is charged the whole
// reservation, never nothing. Spend is recorded in a Ledger and never
// forgotten while the run lives.
//
// A run may have MaxInFlight calls upstream at once; more wait their turn
// in a bounded queue, as they also do for budget that calls in flight hold
// but may release, and are refused only when the queue is full or their
// wait times out. Every refusal is an OpenAI-shaped JSON error and is
// counted on the run's record. Content parts that name remote URLs are
// refused unless the operator allows them: a provider that fetches URLs
// would be a way out of the sandbox.
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
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agoranet/agora"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for zero Config fields.
const (
	DefaultBudget          Micros = 2 * MicrosPerUSD // per run, inference and embeddings each
	DefaultMaxTokens              = 4096
	DefaultMaxInFlight            = 4
	DefaultMaxQueue               = 64
	DefaultQueueTimeout           = 2 * time.Minute
	DefaultMaxBody                = 1 << 20
	DefaultMaxResponse            = 32 << 20
	DefaultTimeout                = 5 * time.Minute
	DefaultRemoteURLTokens        = 16384
)

// Prompt bound. A byte-level BPE token (GPT, Llama 3, Qwen, DeepSeek) or a
// SentencePiece token with byte fallback covers at least one byte of text,
// so a prompt has at most as many tokens as the bytes of its text; the
// forwarded body holds all of that text (JSON escapes only lengthen it)
// plus the JSON syntax around it. The chat template adds a few tokens per
// message (role markers, separators) which the syntax of a message,
// `{"role":"user","content":""}`, already outweighs; promptPerMessage and
// promptPerCall cover them anyway, for messages as short as `{}`.
const (
	promptPerMessage = 8
	promptPerCall    = 32
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
	// MaxOutputTokens is the most completion tokens one call to this
	// inference model can produce; 0 is Config.MaxTokens. A run's
	// max_tokens above it is lowered to it, and a call that names no cap
	// is reserved as if it will produce this many: it must be at least
	// what the upstream generates for the model when no cap is sent.
	MaxOutputTokens int64
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

// add adds m to one kind.
func (b *Budget) add(kind string, m Micros) {
	if kind == KindEmbedding {
		b.Embedding += m
	} else {
		b.Inference += m
	}
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
	// MaxTokens is the MaxOutputTokens of models that set none
	// (default DefaultMaxTokens).
	MaxTokens int64
	// MaxInFlight is how many calls one run may have upstream at once.
	// More wait in the run's queue, first come first served, up to
	// MaxQueue of them (more get HTTP 429) and for at most QueueTimeout
	// (then HTTP 503); both carry Retry-After.
	MaxInFlight  int
	MaxQueue     int
	QueueTimeout time.Duration
	// AllowRemoteURLs lets content parts name remote URLs (image_url,
	// file_data, ...); RemoteURLHosts allows only http(s) URLs on these
	// hosts ("example.com", or "*.example.com" for its subdomains). By
	// default only inline data: URLs pass: a provider that fetches URLs
	// would be the sandbox's way out. Each remote URL adds RemoteURLTokens
	// (default DefaultRemoteURLTokens) prompt tokens to the call's
	// reservation, since its cost cannot be read from the body.
	AllowRemoteURLs bool
	RemoteURLHosts  []string
	RemoteURLTokens int64
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
	// After is the queue's timer (default time.After), for tests.
	After func(time.Duration) <-chan time.Time
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
		if m.MaxOutputTokens < 0 {
			return nil, agora.Errorf(agora.EINVALID, "proxy: model %q: negative output cap", m.Name)
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
	for _, rt := range p.routes {
		if rt.MaxOutputTokens == 0 {
			rt.MaxOutputTokens = cfg.MaxTokens
		}
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = DefaultQueueTimeout
	}
	if cfg.RemoteURLTokens <= 0 {
		cfg.RemoteURLTokens = DefaultRemoteURLTokens
	}
	if cfg.After == nil {
		cfg.After = time.After
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

// runState is one run's budget, running spend, reservations and queue.
// The spend in memory is authoritative while the process lives; the
// ledger is read once, the first time the run is admitted, to carry on
// after a restart.
type runState struct {
	id       string
	mu       sync.Mutex
	budget   Budget
	spend    Spend
	reserved Budget // the reservations of calls in flight, by kind
	loaded   bool
	inflight int
	queue    []*waiter // calls waiting their turn, oldest first
	ended    bool
	wg       sync.WaitGroup  // calls in flight, for EndRun
	logged   map[string]bool // refusal reasons already logged at Info
	// pending holds refusals not yet in the ledger, by reason. They are
	// written with the first refusal of each reason, then with the next
	// settled call and at EndRun, so a run looping on a refusal costs
	// the ledger no write per refusal.
	pending map[string]int64
}

// waiter is a call in a run's queue.
type waiter struct {
	kind    string
	reserve Micros
	ready   chan *apiError // nil once admitted; buffered, sent once
}

// load reads the run's past spend from the ledger; rs.mu is held.
// Refusals counted before are pending, never yet written (flush waits for
// load), so they are added to what the ledger says.
func (p *Proxy) load(ctx context.Context, rs *runState) error {
	if rs.loaded {
		return nil
	}
	s, err := p.cfg.Ledger.Totals(ctx, rs.id)
	if err != nil {
		return err
	}
	for _, n := range rs.pending {
		s.Refused += n
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

// EndRun refuses the run's further calls (HTTP 410), and those still
// queued, waits for its calls in flight to finish or ctx to end, forgets
// the run's in-memory state and returns its final spend: what the
// validator puts in the run's result.
func (p *Proxy) EndRun(ctx context.Context, runID string) (Spend, error) {
	p.mu.Lock()
	rs := p.runs[runID]
	p.mu.Unlock()
	if rs == nil {
		return p.cfg.Ledger.Totals(ctx, runID)
	}
	rs.mu.Lock()
	rs.ended = true // admit checks it under rs.mu, so wg gets no new Add
	p.grant(rs)     // the queued calls are refused
	rs.mu.Unlock()
	done := make(chan struct{})
	go func() { rs.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.flushRefusals(rs)
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
	err := p.load(ctx, rs)
	rs.mu.Unlock()
	if err != nil {
		return Spend{}, err
	}
	p.flushRefusals(rs)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.spend, nil
}

// admit lets a call through once its turn comes, or says why not: the run
// has ended, its budget for this kind of call cannot cover the call's
// reservation, or the queue is full or the wait timed out. An admitted
// call holds one of the run's in-flight slots and its reservation until
// settle.
func (p *Proxy) admit(ctx context.Context, rs *runState, c *call) *apiError {
	rs.mu.Lock()
	if rs.ended {
		rs.mu.Unlock()
		return &apiError{status: http.StatusGone, typ: "run_ended", msg: fmt.Sprintf("run %s has ended", rs.id)}
	}
	if err := p.load(ctx, rs); err != nil {
		rs.mu.Unlock()
		p.log.Error("ledger totals", "run", rs.id, "err", err)
		return &apiError{status: http.StatusServiceUnavailable, typ: "unavailable", msg: "the proxy's ledger is unavailable; try again"}
	}
	// A call that would not fit even with nothing else in flight is
	// refused now rather than after a wait.
	if aerr := p.overBudget(rs, c.kind, c.reserve, c); aerr != nil {
		rs.mu.Unlock()
		return aerr
	}
	w := &waiter{kind: c.kind, reserve: c.reserve, ready: make(chan *apiError, 1)}
	rs.queue = append(rs.queue, w)
	p.grant(rs)
	select {
	case aerr := <-w.ready:
		rs.mu.Unlock()
		return aerr
	default:
	}
	if len(rs.queue) > p.cfg.MaxQueue {
		p.dequeue(rs, w)
		rs.mu.Unlock()
		return &apiError{status: http.StatusTooManyRequests, typ: "concurrency_limit", code: "queue_full", retryAfter: 1,
			msg: fmt.Sprintf("run %s has %d calls in flight and %d waiting, the most allowed; retry after one finishes", rs.id, rs.inflight, p.cfg.MaxQueue)}
	}
	p.m.queued.Inc()
	rs.mu.Unlock()
	start := time.Now()
	defer func() {
		p.m.queued.Dec()
		p.m.queueWait.Observe(time.Since(start).Seconds())
	}()
	select {
	case aerr := <-w.ready:
		return aerr // nil: admitted
	case <-ctx.Done():
	case <-p.cfg.After(p.cfg.QueueTimeout):
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	select {
	case aerr := <-w.ready: // answered as the wait ended
		if aerr != nil || ctx.Err() == nil {
			return aerr
		}
		p.release(rs, c.kind, c.reserve) // admitted, but the run has hung up
		rs.wg.Done()
	default:
		p.dequeue(rs, w)
	}
	p.grant(rs) // the calls behind it may go now
	if ctx.Err() != nil {
		return &apiError{status: http.StatusServiceUnavailable, typ: "aborted", msg: "the request was cancelled while it waited its turn", uncounted: true}
	}
	return &apiError{status: http.StatusServiceUnavailable, typ: "concurrency_limit", code: "queue_timeout", retryAfter: 5,
		msg: fmt.Sprintf("run %s: the call waited %s for its turn (%d calls in flight); retry later", rs.id, p.cfg.QueueTimeout, rs.inflight)}
}

// overBudget refuses a call whose reservation exceeds what the run has
// left even with nothing in flight; rs.mu is held. c, if set, describes
// the call in the message.
func (p *Proxy) overBudget(rs *runState, kind string, reserve Micros, c *call) *apiError {
	spent, budget := rs.spend.of(kind), rs.budget.of(kind)
	if addSat(spent, reserve) <= budget {
		return nil
	}
	aerr := &apiError{status: http.StatusPaymentRequired, typ: "budget_exhausted"}
	if spent >= budget || c == nil {
		aerr.msg = fmt.Sprintf("run %s spent %s of its %s %s budget", rs.id, spent, budget.Short(), kind)
		return aerr
	}
	aerr.msg = fmt.Sprintf("run %s has %s of its %s %s budget left; this call could cost up to %s (%d prompt tokens",
		rs.id, budget-spent, budget.Short(), kind, reserve, c.promptBound)
	if kind == KindInference {
		aerr.msg += fmt.Sprintf(", %d completion tokens); send a shorter prompt or a lower max_tokens", c.outputCap)
	} else {
		aerr.msg += "); send less input"
	}
	return aerr
}

// grant admits the queued calls whose turn has come; rs.mu is held. Calls
// of one kind go in the order they came; one waiting for budget that calls
// in flight hold does not hold up calls of the other kind. A call whose
// reservation no longer fits even with nothing in flight is refused.
func (p *Proxy) grant(rs *runState) {
	var blocked [2]bool // by kind: the oldest call waits for budget
	for i := 0; i < len(rs.queue); {
		w := rs.queue[i]
		k := 0
		if w.kind == KindEmbedding {
			k = 1
		}
		if rs.ended {
			p.dequeueAt(rs, i)
			w.ready <- &apiError{status: http.StatusGone, typ: "run_ended", msg: fmt.Sprintf("run %s has ended", rs.id), uncounted: true}
			continue
		}
		if blocked[k] || rs.inflight >= p.cfg.MaxInFlight {
			i++
			continue
		}
		if aerr := p.overBudget(rs, w.kind, w.reserve, nil); aerr != nil {
			p.dequeueAt(rs, i)
			w.ready <- aerr
			continue
		}
		if addSat(addSat(rs.spend.of(w.kind), rs.reserved.of(w.kind)), w.reserve) > rs.budget.of(w.kind) {
			blocked[k] = true // until a call in flight settles
			i++
			continue
		}
		p.dequeueAt(rs, i)
		rs.inflight++
		rs.reserved.add(w.kind, w.reserve)
		rs.wg.Add(1)
		p.m.inflight.Inc()
		w.ready <- nil
	}
}

// release gives back an admitted call's slot and reservation; rs.mu is
// held. The caller then calls wg.Done and grant.
func (p *Proxy) release(rs *runState, kind string, reserve Micros) {
	rs.inflight--
	rs.reserved.add(kind, -reserve)
	p.m.inflight.Dec()
}

func (p *Proxy) dequeue(rs *runState, w *waiter) {
	for i, x := range rs.queue {
		if x == w {
			p.dequeueAt(rs, i)
			return
		}
	}
}

func (p *Proxy) dequeueAt(rs *runState, i int) {
	rs.queue = append(rs.queue[:i], rs.queue[i+1:]...)
}

// settle charges a finished call to its run, releases the rest of its
// reservation, records it and logs it. It runs before the reply is
// written (after the stream, for streams), so the next call sees the
// charge.
func (p *Proxy) settle(rs *runState, e *Entry, c *call) {
	e.Duration = p.cfg.Now().Sub(e.Time)
	rs.mu.Lock()
	rs.spend.add(*e)
	p.release(rs, c.kind, c.reserve)
	p.grant(rs)
	rs.mu.Unlock()
	if e.Cost > c.reserve {
		// Only an upstream that ignores the caps it was given, or a
		// model whose MaxOutputTokens is set below what it generates,
		// gets here: the run is charged what the upstream reported.
		p.m.overrun.Add(float64(e.Cost - c.reserve))
		p.log.Warn("upstream reported more than the call's worst case; check the model's output cap", "run", e.RunID,
			"model", e.Model, "reserved", c.reserve.String(), "cost", e.Cost.String(),
			"prompt_tokens", e.PromptTokens, "prompt_bound", c.promptBound,
			"completion_tokens", e.CompletionTokens, "output_cap", c.outputCap)
	}
	// The run may have hung up; the charge is recorded regardless.
	ctx, cancel := context.WithTimeout(context.Background(), p.ledgerCtx)
	if err := p.cfg.Ledger.Record(ctx, *e); err != nil {
		p.m.ledgerErrors.Inc()
		p.log.Error("ledger record", "run", e.RunID, "cost_micros", int64(e.Cost), "err", err)
	}
	cancel()
	p.flushRefusals(rs)
	rs.wg.Done()
	p.m.observe(e)
	level := slog.LevelInfo
	if e.Status != StatusOK {
		level = slog.LevelWarn
	}
	p.log.LogAttrs(context.Background(), level, "call",
		slog.String("run", e.RunID), slog.String("kind", e.Kind), slog.String("model", e.Model),
		slog.String("upstream", e.Upstream), slog.Bool("stream", c.stream),
		slog.Int64("prompt_tokens", e.PromptTokens), slog.Int64("completion_tokens", e.CompletionTokens),
		slog.Bool("estimated", e.Estimated), slog.String("cost", e.Cost.String()), slog.Int64("cost_micros", int64(e.Cost)),
		slog.Int64("reserved_micros", int64(c.reserve)),
		slog.String("status", e.Status), slog.Int("upstream_status", e.HTTPStatus), slog.Int64("ms", e.Duration.Milliseconds()))
}

// flushRefusals writes the run's pending refusal counts to the ledger,
// once the run's totals are loaded (load adds what is pending).
func (p *Proxy) flushRefusals(rs *runState) {
	rs.mu.Lock()
	if !rs.loaded || len(rs.pending) == 0 {
		rs.mu.Unlock()
		return
	}
	pending := rs.pending
	rs.pending = nil
	rs.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), p.ledgerCtx)
	defer cancel()
	for reason, n := range pending {
		if err := p.cfg.Ledger.RecordRefusals(ctx, rs.id, reason, n); err != nil {
			p.m.ledgerErrors.Inc()
			p.log.Error("ledger refusals", "run", rs.id, "reason", reason, "err", err)
			rs.mu.Lock()
			if rs.pending == nil {
				rs.pending = map[string]int64{}
			}
			rs.pending[reason] += n // tried again at the next flush
			rs.mu.Unlock()
		}
	}
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
		p.refuse(w, fixed, &apiError{status: http.StatusNotFound, typ: "not_found", msg: "no such endpoint: " + truncate(r.URL.Path, 64)})
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
	s, b, res := rs.spend, rs.budget, rs.reserved
	inflight, queued := rs.inflight, len(rs.queue)
	rs.mu.Unlock()
	type line struct {
		Spent          string `json:"spent_usd"`
		Budget         string `json:"budget_usd"`
		Reserved       string `json:"reserved_usd"`
		SpentMicros    int64  `json:"spent_micro_usd"`
		BudgetMicros   int64  `json:"budget_micro_usd"`
		ReservedMicros int64  `json:"reserved_micro_usd"`
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"run_id":        rs.id,
		"inference":     line{s.Inference.Decimal(), b.Inference.Decimal(), res.Inference.Decimal(), int64(s.Inference), int64(b.Inference), int64(res.Inference)},
		"embedding":     line{s.Embedding.Decimal(), b.Embedding.Decimal(), res.Embedding.Decimal(), int64(s.Embedding), int64(b.Embedding), int64(res.Embedding)},
		"calls":         s.Calls,
		"refused_calls": s.Refused,
		"in_flight":     inflight,
		"queued":        queued,
	})
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

func (p *Proxy) serveChat(w http.ResponseWriter, r *http.Request, fixed *runState, ridges bool) {
	body, aerr := p.readBody(w, r)
	if aerr != nil {
		p.refuse(w, p.hinted(r, fixed), aerr)
		return
	}
	var c *chatRequest
	var err error
	if ridges {
		c, err = parseRidgesInference(body, p.cfg.DefaultModel)
	} else {
		c, err = parseChat(body, p.extra)
	}
	if err != nil {
		p.refuse(w, p.hinted(r, fixed), asAPIError(err))
		return
	}
	rs, aerr := p.resolve(r, fixed, c.runID)
	if aerr != nil {
		p.refuse(w, p.hinted(r, fixed), aerr)
		return
	}
	rt, aerr := p.routeFor(c.model, KindInference)
	if aerr != nil {
		p.refuse(w, rs, aerr)
		return
	}
	remote, aerr := p.checkRemote(c.remote)
	if aerr != nil {
		p.refuse(w, rs, aerr)
		return
	}
	outCap := c.capOutput(rt.MaxOutputTokens)
	c.fields["model"] = rawJSON(rt.UpstreamModel)
	fwd := encodeFields(c.fields)
	prompt := int64(len(fwd)) + promptPerCall + promptPerMessage*int64(c.messages) + remote*p.cfg.RemoteURLTokens
	p.forward(w, r, rs, newCall(KindInference, rt, fwd, prompt, outCap, c.stream, c.clientUsage, ridges))
}

func (p *Proxy) serveEmbedding(w http.ResponseWriter, r *http.Request, fixed *runState, ridges bool) {
	body, aerr := p.readBody(w, r)
	if aerr != nil {
		p.refuse(w, p.hinted(r, fixed), aerr)
		return
	}
	var e *embeddingRequest
	var err error
	if ridges {
		if p.cfg.EmbeddingModel == "" {
			p.refuse(w, p.hinted(r, fixed), &apiError{status: http.StatusNotFound, typ: "not_found", msg: "this proxy has no embedding model for /agents/embedding"})
			return
		}
		e, err = parseRidgesEmbedding(body, p.cfg.EmbeddingModel)
	} else {
		e, err = parseEmbedding(body, p.extra)
	}
	if err != nil {
		p.refuse(w, p.hinted(r, fixed), asAPIError(err))
		return
	}
	rs, aerr := p.resolve(r, fixed, e.runID)
	if aerr != nil {
		p.refuse(w, p.hinted(r, fixed), aerr)
		return
	}
	rt, aerr := p.routeFor(e.model, KindEmbedding)
	if aerr != nil {
		p.refuse(w, rs, aerr)
		return
	}
	e.fields["model"] = rawJSON(rt.UpstreamModel)
	fwd := encodeFields(e.fields)
	// Every input's text (or token ids, at least two bytes each) is in
	// the body, as are the quotes and commas that outweigh the one or
	// two special tokens an embedding model adds per input.
	p.forward(w, r, rs, newCall(KindEmbedding, rt, fwd, int64(len(fwd))+promptPerCall, 0, false, false, ridges))
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
