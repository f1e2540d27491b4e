package http

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agoranet/agora"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Store is what the server needs from storage; sqldb.DB provides it.
type Store interface {
	agora.TaskService
	agora.SubmissionService
	agora.JobService
	agora.EventService
	agora.NonceService
	agora.EpochService
	agora.LeagueService
	// AllSubmissions returns a task's submissions, unpaged, for boards.
	AllSubmissions(ctx context.Context, taskID string, statuses ...string) ([]*agora.Submission, error)
	// Ping says whether the database answers.
	Ping(ctx context.Context) error
}

// Server defaults.
const (
	DefaultMaxBody       = 1 << 20
	DefaultResultMaxBody = agora.MaxLogBytes*2 + 1<<20 // a JSON-escaped log fits
	DefaultImportMaxBody = 256 << 20
	DefaultRate          = 10.0 // requests per second per hotkey
	DefaultBurst         = 40
	DefaultMaxLeaseTTL   = time.Hour
)

// Roles configures who may do what. Owners manage tasks; validators are an
// allowlist; miners are any hotkey unless a list is given.
type Roles struct {
	Owners     []string
	Validators []string
	Miners     []string // empty: any hotkey may mine
}

func (r Roles) has(role, who string) bool {
	in := func(list []string) bool {
		for _, x := range list {
			if x == who {
				return true
			}
		}
		return false
	}
	switch role {
	case agora.RoleOwner:
		return in(r.Owners)
	case agora.RoleValidator:
		return in(r.Validators)
	case agora.RoleMiner:
		return len(r.Miners) == 0 || in(r.Miners)
	}
	return false
}

// SetPermittedValidators replaces the hotkeys that are validators because
// the metagraph gives them a validator permit (in addition to the static
// allowlist). Safe to call while serving.
func (s *Server) SetPermittedValidators(hotkeys []string) {
	m := make(map[string]bool, len(hotkeys))
	for _, h := range hotkeys {
		m[h] = true
	}
	s.permitted.Store(&m)
}

// hasRole is Roles.has plus the metagraph's validator permits.
func (s *Server) hasRole(role, who string) bool {
	if s.Roles.has(role, who) {
		return true
	}
	if role == agora.RoleValidator {
		if m := s.permitted.Load(); m != nil {
			return (*m)[who]
		}
	}
	return false
}

// Server serves the coordinator API. Set the fields, then Open.
type Server struct {
	Addr     string // listen address; ":0" picks a port
	Store    Store
	Verifier agora.RequestVerifier
	Roles    Roles
	// Address is the coordinator's own SS58 address, published at
	// /api/v1/info so clients can sign requests for it.
	Address string
	// Rate and Burst limit each hotkey's signed requests.
	Rate     float64
	Burst    int
	LeaseTTL time.Duration // default lease when a validator asks for none
	// Rewards are the reward policies epochs are closed with.
	Rewards []agora.RewardPolicy
	// EpochBudget is shared among the weighted reward policies.
	EpochBudget uint64
	// WeightPolicy, if set, is frozen into every reward snapshot.
	WeightPolicy *agora.WeightPolicy
	// ClaimLeaf is the claim tree's leaf encoding (default
	// ClaimLeafBytes32).
	ClaimLeaf []string

	// permitted are hotkeys with a validator permit on the subnet, set by
	// SetPermittedValidators; they are validators besides Roles.Validators.
	permitted atomic.Pointer[map[string]bool]
	// registeredMiners are hotkeys registered on the subnet, set by
	// SetRegisteredMiners (routes.go); with Roles.Miners they may be
	// assigned peer evaluations.
	registeredMiners atomic.Pointer[[]string]
	// RepoSource is the template imported SWE-bench tasks get as their
	// repository, with {owner} and {name} filled in.
	RepoSource string
	Logger     *slog.Logger
	Now        func() time.Time

	ln       net.Listener
	srv      *http.Server
	mux      *http.ServeMux
	limiter  *limiter
	events   *broker
	registry *prometheus.Registry
	reqs     *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	routes   []string
	closing  chan struct{}
	once     sync.Once
}

// Open listens on Addr and serves in the background.
func (s *Server) Open() error {
	if s.Store == nil || s.Verifier == nil {
		return errors.New("http: Server needs a Store and a Verifier")
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.Logger = s.Logger.With("component", "coordinator")
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Rate == 0 {
		s.Rate = DefaultRate
	}
	if s.Burst == 0 {
		s.Burst = DefaultBurst
	}
	if s.LeaseTTL == 0 {
		s.LeaseTTL = agora.DefaultLeaseTTL
	}
	if s.RepoSource == "" {
		s.RepoSource = "https://github.com/{owner}/{name}.git"
	}
	s.limiter = newLimiter(s.Rate, s.Burst)
	s.events = newBroker()
	s.closing = make(chan struct{})
	s.initMetrics()
	s.mux = http.NewServeMux()
	s.registerRoutes()
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return agora.Errorf(agora.EUNAVAILABLE, "listen %s: %v", s.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go s.srv.Serve(ln)
	s.Logger.Info("listening", "url", s.URL())
	return nil
}

// Notify wakes event-stream readers; wire it to the store's OnEvent.
func (s *Server) Notify() {
	if s.events != nil {
		s.events.notify()
	}
}

// Handler returns the server's handler, for tests that skip the listener.
func (s *Server) Handler() http.Handler { return s.mux }

// URL returns the base URL the server listens on.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	addr := s.ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// Close stops accepting requests, ends event streams and waits for
// in-flight requests up to ctx's deadline.
func (s *Server) Close(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	s.once.Do(func() { close(s.closing) })
	return s.srv.Shutdown(ctx)
}

func (s *Server) initMetrics() {
	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "agora_http_requests_total", Help: "HTTP requests by route and status.",
	}, []string{"route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "agora_http_request_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route"})
	s.registry.MustRegister(s.reqs, s.latency)
	for _, st := range []string{agora.JobQueued, agora.JobLeased, agora.JobDone, agora.JobFailed} {
		st := st
		s.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "agora_jobs", Help: "Replay jobs by status.", ConstLabels: prometheus.Labels{"status": st},
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, n, err := s.Store.FindJobs(ctx, agora.JobFilter{Status: &st, Limit: 1})
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// handle registers a route with logging and metrics around it.
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		h(rec, r)
		d := time.Since(start)
		s.reqs.WithLabelValues(pattern, strconv.Itoa(rec.status)).Inc()
		s.latency.WithLabelValues(pattern).Observe(d.Seconds())
		s.Logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "ms", d.Milliseconds(),
			"hotkey", agora.HotkeyFromContext(r.Context()))
	})
}

// Routes lists the registered route patterns, for the OpenAPI check.
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

// signedHandler is a handler for a verified hotkey with the request body.
type signedHandler func(w http.ResponseWriter, r *http.Request, who string, body []byte) error

// signed wraps h: the body is read (at most max bytes), the Epistula
// signature checked, the rate limit and the role enforced.
func (s *Server) signed(role string, max int64, h signedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r, max)
		if err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
		who, err := s.Verifier.Verify(r.Context(), r.Header, body, s.Now())
		if err != nil {
			if agora.ErrorCode(err) != agora.EUNAUTHORIZED {
				writeError(w, r, s.Logger, err)
				return
			}
			s.Logger.Info("refused request", "path", r.URL.Path, "reason", agora.ErrorMessage(err))
			writeError(w, r, s.Logger, err)
			return
		}
		if !s.limiter.allow(who, s.Now()) {
			w.Header().Set("Retry-After", "1")
			writeError(w, r, s.Logger, agora.Errorf(agora.ERATELIMIT, "rate limit: at most %.0f requests per second per hotkey", s.Rate))
			return
		}
		if role != "" && !s.hasRole(role, who) {
			writeError(w, r, s.Logger, agora.Errorf(agora.EFORBIDDEN, "%s is not a registered %s", who, role))
			return
		}
		r = r.WithContext(agora.NewContextWithHotkey(r.Context(), who))
		if err := h(w, r, who, body); err != nil {
			writeError(w, r, s.Logger, err)
		}
	}
}

// public wraps an unsigned handler. A request that does carry a signature
// is verified, so owners and validators see what the public does not.
func (s *Server) public(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Epistula-Signed-By") != "" {
			who, err := s.Verifier.Verify(r.Context(), r.Header, nil, s.Now())
			if err != nil {
				writeError(w, r, s.Logger, err)
				return
			}
			r = r.WithContext(agora.NewContextWithHotkey(r.Context(), who))
		}
		if err := h(w, r); err != nil {
			writeError(w, r, s.Logger, err)
		}
	}
}

// privileged reports whether the caller may see grading data.
func (s *Server) privileged(r *http.Request) bool {
	who := agora.HotkeyFromContext(r.Context())
	return who != "" && (s.hasRole(agora.RoleOwner, who) || s.hasRole(agora.RoleValidator, who))
}

// limiter is a token bucket per hotkey.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}}
}

func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) > 100000 {
			// Forget idle buckets rather than grow without bound.
			for k, v := range l.buckets {
				if now.Sub(v.last) > time.Minute {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// broker wakes event-stream readers when new events are committed.
type broker struct {
	mu sync.Mutex
	ch chan struct{}
}

func newBroker() *broker { return &broker{ch: make(chan struct{})} }

func (b *broker) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *broker) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.ch)
	b.ch = make(chan struct{})
}
