package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/proxy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultProxyListen is where `agora proxy` serves by default.
const DefaultProxyListen = "127.0.0.1:8788"

// ProxyCommand is `agora proxy`: the metering inference and embedding
// proxy on its own, serving many runs that name themselves (X-Agora-Run
// header or Ridges run_id), with /metrics beside it. Validators do not need
// it: they serve proxy.ForRun inside each run.
type ProxyCommand struct {
	Stdout, Stderr io.Writer

	Listen string
	proxyFlags
	Ledger  string
	Verbose bool

	// Set by Open.
	Proxy  *proxy.Proxy
	URL    string
	srv    *http.Server
	ledger func() error // closes the ledger
}

const proxyUsage = `Usage: agora proxy --upstream NAME=URL --price MODEL=IN,OUT [flags]

Runs the inference and embedding proxy for many runs at once. Each call
names its run with the X-Agora-Run header (or run_id in a Ridges body).
Before a call goes upstream its worst case (a token per byte of prompt,
its max_tokens or the model's output cap) is reserved against the run's
budget; a call that does not fit gets HTTP 402. Once answered, it is
charged from the provider's reported usage. Calls past --max-inflight wait
their turn (--max-queue, --queue-timeout). Content parts naming remote
URLs are refused unless --allow-remote-urls or --allow-url-host. Routes: POST /v1/chat/completions, /v1/embeddings,
/agents/inference, /agents/embedding, /api/inference, /api/embedding (Ridges'
two contracts; --model-alias maps Ridges' model names to yours); GET
/v1/models, /agora/budget,
/healthz, /metrics.

API keys come from the environment, never the command line:
  OPENAI_API_KEY=... agora proxy --upstream openai=https://api.openai.com/v1 \
    --upstream-key-env openai=OPENAI_API_KEY \
    --price gpt-4o-mini=0.15,0.6 --price text-embedding-3-small=0.02 \
    --ledger proxy.db

Prices are USD per 1M tokens: IN,OUT for a chat model, IN alone for an
embedding model. Only priced models can be allowed. A chat model's price
may add its output cap, IN,OUT,MAX_OUTPUT_TOKENS (default --max-tokens):
what a call that sends no max_tokens is reserved for, so it must cover
what the provider generates for the model when no cap is sent.

Flags:
`

// pairsFlag is a repeatable NAME=VALUE flag. Unlike listFlag it does not
// split on commas, which prices use.
type pairsFlag []string

func (p *pairsFlag) String() string { return strings.Join(*p, " ") }

func (p *pairsFlag) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", v)
	}
	*p = append(*p, v)
	return nil
}

// pairs splits the values into a map, refusing a name given twice.
func (p pairsFlag) pairs(flagName string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range p {
		k, val, _ := strings.Cut(v, "=")
		if _, dup := out[k]; dup {
			return nil, agora.Errorf(agora.EINVALID, "--%s: %q given twice", flagName, k)
		}
		out[k] = val
	}
	return out, nil
}

// proxyFlags configure a proxy's upstreams, prices and budgets: for
// `agora proxy`, for the proxy a validator serves inside each agent run,
// and for `agora miner agent test`.
type proxyFlags struct {
	Upstreams       pairsFlag // name=URL
	KeyEnvs         pairsFlag // name=ENV_VAR
	Prices          pairsFlag // model=in[,out]
	Routes          pairsFlag // model=upstream
	Aliases         pairsFlag // name=model
	Allow           listFlag
	InferenceBudget string
	EmbeddingBudget string
	MaxTokens       int64
	MaxInFlight     int
	MaxQueue        int
	QueueTimeout    time.Duration
	AllowRemoteURLs bool
	AllowURLHosts   listFlag
	Timeout         time.Duration
	DefaultModel    string
	EmbeddingModel  string
}

// set reports whether any upstream was given.
func (c *proxyFlags) set() bool { return len(c.Upstreams) > 0 }

func (c *proxyFlags) register(fs *flag.FlagSet) {
	fs.Var(&c.Upstreams, "upstream", "OpenAI-compatible provider `name=URL` (its API root, e.g. https://api.openai.com/v1), repeatable")
	fs.Var(&c.KeyEnvs, "upstream-key-env", "`name=ENV_VAR` holding an upstream's API key, repeatable")
	fs.Var(&c.Prices, "price", "`model=in,out[,max_output_tokens]` USD per 1M input,output tokens and the model's output cap (model=in: an embedding model), repeatable")
	fs.Var(&c.Routes, "route", "`model=upstream` for a model, repeatable; needed only with several upstreams")
	fs.Var(&c.Aliases, "model-alias", "`name=model`: a run asking for name (a Ridges model, say) is served, priced and metered as the allowed model, repeatable")
	fs.Var(&c.Allow, "allow", "allowed `model`s, repeatable or comma-separated (default: every priced model)")
	fs.StringVar(&c.InferenceBudget, "inference-budget", "2", "inference budget per run, `USD`")
	fs.StringVar(&c.EmbeddingBudget, "embedding-budget", "2", "embedding budget per run, `USD`")
	fs.Int64Var(&c.MaxTokens, "max-tokens", proxy.DefaultMaxTokens, "output cap of chat models whose --price names none: max_tokens above it is lowered, a call without max_tokens is reserved for it (none is added)")
	fs.IntVar(&c.MaxInFlight, "max-inflight", proxy.DefaultMaxInFlight, "calls one run may have upstream at once; more wait their turn")
	fs.IntVar(&c.MaxQueue, "max-queue", proxy.DefaultMaxQueue, "calls one run may have waiting; more get HTTP 429")
	fs.DurationVar(&c.QueueTimeout, "queue-timeout", proxy.DefaultQueueTimeout, "how long a call may wait its turn before HTTP 503")
	fs.BoolVar(&c.AllowRemoteURLs, "allow-remote-urls", false, "let content parts name remote URLs (image_url, file_data, ...), which the provider may fetch: a way out of the sandbox")
	fs.Var(&c.AllowURLHosts, "allow-url-host", "`host` whose http(s) URLs content parts may name (*.example.com: its subdomains), repeatable or comma-separated")
	fs.DurationVar(&c.Timeout, "timeout", proxy.DefaultTimeout, "upstream call timeout, streams included")
	fs.StringVar(&c.DefaultModel, "default-model", "", "`model` for Ridges inference bodies that name none")
	fs.StringVar(&c.EmbeddingModel, "embedding-model", "", "`model` for /agents/embedding (default: the only embedding model)")
}

// ParseFlags reads the flags.
func (c *ProxyCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("agora-proxy", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.StringVar(&c.Listen, "listen", DefaultProxyListen, "listen `address`")
	c.proxyFlags.register(fs)
	fs.StringVar(&c.Ledger, "ledger", "", "SQLite `file` recording every call (default: in memory, lost at exit)")
	fs.BoolVar(&c.Verbose, "v", false, "log every refusal (the first of each kind per run is always logged)")
	fs.Usage = func() { fmt.Fprint(c.Stderr, proxyUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("proxy: unexpected argument %q", fs.Arg(0))}
	}
	_, err := c.Config()
	return err
}

// Config turns the flags into the proxy's configuration, naming the flag
// at fault. Keys are read from the environment here.
func (c *proxyFlags) Config() (proxy.Config, error) {
	var cfg proxy.Config
	ups, err := c.Upstreams.pairs("upstream")
	if err != nil {
		return cfg, err
	}
	if len(ups) == 0 {
		return cfg, agora.Errorf(agora.EINVALID, "--upstream: at least one NAME=URL is required")
	}
	keys, err := c.KeyEnvs.pairs("upstream-key-env")
	if err != nil {
		return cfg, err
	}
	for name := range keys {
		if _, ok := ups[name]; !ok {
			return cfg, agora.Errorf(agora.EINVALID, "--upstream-key-env: no --upstream named %q", name)
		}
	}
	for _, name := range sortedKeys(ups) {
		u := proxy.Upstream{Name: name, BaseURL: ups[name], Timeout: c.Timeout}
		if env, ok := keys[name]; ok {
			if u.APIKey = os.Getenv(env); u.APIKey == "" {
				return cfg, agora.Errorf(agora.EINVALID, "--upstream-key-env %s=%s: the environment variable is empty", name, env)
			}
		}
		cfg.Upstreams = append(cfg.Upstreams, u)
	}
	prices, err := c.Prices.pairs("price")
	if err != nil {
		return cfg, err
	}
	routes, err := c.Routes.pairs("route")
	if err != nil {
		return cfg, err
	}
	allowed := []string(c.Allow)
	if len(allowed) == 0 {
		allowed = sortedKeys(prices)
	}
	if len(allowed) == 0 {
		return cfg, agora.Errorf(agora.EINVALID, "--price: at least one priced model is required")
	}
	for _, name := range allowed {
		spec, ok := prices[name]
		if !ok {
			return cfg, agora.Errorf(agora.EINVALID, "--allow %s: the model has no --price", name)
		}
		m := proxy.Model{Name: name, Upstream: routes[name], Kind: proxy.KindInference}
		in, out, chat := strings.Cut(spec, ",")
		if !chat {
			m.Kind = proxy.KindEmbedding
		}
		out, maxOut, capped := strings.Cut(out, ",")
		if m.Price.Input, err = proxy.ParseUSD(in); err == nil && chat {
			m.Price.Output, err = proxy.ParseUSD(out)
		}
		if err == nil && capped {
			if m.MaxOutputTokens, err = strconv.ParseInt(maxOut, 10, 64); err != nil || m.MaxOutputTokens < 1 {
				err = agora.Errorf(agora.EINVALID, "the output cap %q is not a positive number of tokens", maxOut)
			}
		}
		if err != nil {
			return cfg, agora.Errorf(agora.EINVALID, "--price %s=%s: %s", name, spec, agora.ErrorMessage(err))
		}
		if m.Upstream == "" && len(ups) > 1 {
			return cfg, agora.Errorf(agora.EINVALID, "--route: model %s needs an upstream (there are %d)", name, len(ups))
		}
		cfg.Models = append(cfg.Models, m)
	}
	for name := range routes {
		if _, ok := prices[name]; !ok {
			return cfg, agora.Errorf(agora.EINVALID, "--route %s: the model has no --price", name)
		}
	}
	if cfg.Budget.Inference, err = proxy.ParseUSD(c.InferenceBudget); err != nil || cfg.Budget.Inference <= 0 {
		return cfg, agora.Errorf(agora.EINVALID, "--inference-budget %q: want a positive dollar amount", c.InferenceBudget)
	}
	if cfg.Budget.Embedding, err = proxy.ParseUSD(c.EmbeddingBudget); err != nil || cfg.Budget.Embedding <= 0 {
		return cfg, agora.Errorf(agora.EINVALID, "--embedding-budget %q: want a positive dollar amount", c.EmbeddingBudget)
	}
	switch {
	case c.MaxTokens < 1:
		return cfg, agora.Errorf(agora.EINVALID, "--max-tokens: at least 1")
	case c.MaxInFlight < 1:
		return cfg, agora.Errorf(agora.EINVALID, "--max-inflight: at least 1")
	case c.MaxQueue < 1:
		return cfg, agora.Errorf(agora.EINVALID, "--max-queue: at least 1")
	case c.QueueTimeout < time.Second:
		return cfg, agora.Errorf(agora.EINVALID, "--queue-timeout: at least 1s")
	case c.Timeout < time.Second:
		return cfg, agora.Errorf(agora.EINVALID, "--timeout: at least 1s")
	}
	for _, h := range c.AllowURLHosts {
		if strings.ContainsAny(strings.TrimPrefix(h, "*."), "*/:@ ") {
			return cfg, agora.Errorf(agora.EINVALID, "--allow-url-host %q: want a host name, or *.example.com", h)
		}
	}
	cfg.MaxTokens, cfg.MaxInFlight, cfg.Timeout = c.MaxTokens, c.MaxInFlight, c.Timeout
	cfg.MaxQueue, cfg.QueueTimeout = c.MaxQueue, c.QueueTimeout
	cfg.AllowRemoteURLs, cfg.RemoteURLHosts = c.AllowRemoteURLs, []string(c.AllowURLHosts)
	cfg.DefaultModel, cfg.EmbeddingModel = c.DefaultModel, c.EmbeddingModel
	if cfg.Aliases, err = c.Aliases.pairs("model-alias"); err != nil {
		return cfg, err
	}
	// New checks the rest (URLs, kinds, default models) with its own
	// messages; a dry run here reports them at flag-parsing time.
	if _, err := proxy.New(cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// open builds a proxy whose spend goes to a SQLite ledger at path (in
// memory when path is empty) and returns it with the ledger's closer.
func (c *proxyFlags) open(ctx context.Context, path string, reg prometheus.Registerer, log *slog.Logger) (*proxy.Proxy, func() error, error) {
	cfg, err := c.Config()
	if err != nil {
		return nil, nil, err
	}
	closer := func() error { return nil }
	if path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, nil, err
		}
		l, err := proxy.OpenSQLiteLedger(ctx, path)
		if err != nil {
			return nil, nil, err
		}
		cfg.Ledger, closer = l, l.Close
	}
	cfg.Registerer, cfg.Logger = reg, log
	p, err := proxy.New(cfg)
	if err != nil {
		closer()
		return nil, nil, err
	}
	return p, closer, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Open opens the ledger, builds the proxy and serves it in the background.
func (c *ProxyCommand) Open(ctx context.Context) error {
	level := slog.LevelInfo
	if c.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: level}))
	if c.Ledger == "" {
		log.Warn("no --ledger: spend is kept in memory and forgotten at exit")
	}
	keyed, _ := c.KeyEnvs.pairs("upstream-key-env")
	ups, _ := c.Upstreams.pairs("upstream")
	for name := range ups {
		if _, ok := keyed[name]; !ok {
			log.Warn("upstream has no API key (no --upstream-key-env)", "upstream", name)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	var err error
	ledger := c.Ledger
	if ledger != "" {
		ledger = expandHome(ledger)
	}
	if c.Proxy, c.ledger, err = c.proxyFlags.open(ctx, ledger, reg, log); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", c.Proxy.Handler())
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		c.closeLedger()
		return agora.Errorf(agora.EUNAVAILABLE, "--listen %s: %v", c.Listen, err)
	}
	c.URL = "http://" + ln.Addr().String()
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go c.srv.Serve(ln)
	var models []string
	for _, m := range c.Proxy.Models() {
		models = append(models, m.Name)
	}
	log.Info("proxy", "url", c.URL, "models", strings.Join(models, ","), "inference_budget", c.InferenceBudget,
		"embedding_budget", c.EmbeddingBudget, "ledger", c.Ledger)
	return nil
}

func (c *ProxyCommand) closeLedger() error {
	if c.ledger == nil {
		return nil
	}
	err := c.ledger()
	c.ledger = nil
	return err
}

// Close lets calls in flight finish (up to the timeout), then closes the
// ledger so their charges are recorded.
func (c *ProxyCommand) Close() error {
	var err error
	if c.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
		err = c.srv.Shutdown(ctx)
		cancel()
	}
	if e := c.closeLedger(); err == nil {
		err = e
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Run serves until ctx is cancelled (SIGINT or SIGTERM).
func (c *ProxyCommand) Run(ctx context.Context, args []string) error {
	if err := c.ParseFlags(args); err != nil {
		return err
	}
	if err := c.Open(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return c.Close()
}
