package proxy

import (
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
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
	// Aliases maps a model name runs may ask for to an allowed model,
	// which is what is priced, metered and sent upstream (as its
	// UpstreamModel): agents written for Ridges name Ridges' models
	// ("moonshotai/Kimi-K2-Instruct") and are served by the operator's.
	// An alias must not be an allowed model's name.
	Aliases map[string]string
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
	for alias, target := range cfg.Aliases {
		switch {
		case alias == "" || len(alias) > maxModelName:
			return nil, agora.Errorf(agora.EINVALID, "proxy: a model alias needs a name of 1 to %d bytes", maxModelName)
		case p.routes[alias] != nil:
			return nil, agora.Errorf(agora.EINVALID, "proxy: alias %q is an allowed model's own name", alias)
		case p.routes[target] == nil:
			return nil, agora.Errorf(agora.EINVALID, "proxy: alias %q names %q, which is not an allowed model", alias, target)
		}
	}
	aliases := make(map[string]string, len(cfg.Aliases))
	for alias, target := range cfg.Aliases {
		aliases[alias] = target // a copy: the caller's map stays theirs
	}
	cfg.Aliases = aliases
	cfg.Budget = cfg.Budget.withDefaults(Budget{Inference: DefaultBudget, Embedding: DefaultBudget})
	orDefault(&cfg.MaxTokens, DefaultMaxTokens)
	for _, rt := range p.routes {
		if rt.MaxOutputTokens == 0 {
			rt.MaxOutputTokens = cfg.MaxTokens
		}
	}
	orDefault(&cfg.MaxInFlight, DefaultMaxInFlight)
	orDefault(&cfg.MaxQueue, DefaultMaxQueue)
	orDefault(&cfg.QueueTimeout, DefaultQueueTimeout)
	orDefault(&cfg.RemoteURLTokens, DefaultRemoteURLTokens)
	orDefault(&cfg.MaxBody, DefaultMaxBody)
	orDefault(&cfg.MaxResponse, DefaultMaxResponse)
	orDefault(&cfg.Timeout, DefaultTimeout)
	if cfg.After == nil {
		cfg.After = time.After
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

// orDefault sets *v to def unless it is positive: a zero or negative
// Config field means the default.
func orDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
