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
	"github.com/agoranet/agora/hotkey"
	"github.com/agoranet/agora/web"
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
	agora.ValidatorStatsService
	// AllSubmissions returns a task's submissions, unpaged, for boards.
	AllSubmissions(ctx context.Context, taskID string, statuses ...string) ([]*agora.Submission, error)
	// BoardSubmissions returns a task's accepted submissions without
	// their bodies (id, miner, status, verdict, times), for boards.
	BoardSubmissions(ctx context.Context, taskID string) ([]*agora.Submission, error)
	// AcceptedCount counts a task's accepted submissions: the version of
	// its board, since that set only grows.
	AcceptedCount(ctx context.Context, taskID string) (int, error)
	// Ping says whether the database answers.
	Ping(ctx context.Context) error
}

// Coordinator is the coordinator logic behind the routes that change more
// than one record or apply a rule; coordinator.Coordinator provides it.
// The server decodes and authorizes a request, calls one of these, and
// encodes what comes back. Each method's errors are its domain codes.
type Coordinator interface {
	// ImportTasks turns SWE-bench instances into swe tasks, all or none,
	// with tmpl's visibility, competition, quorum and creator.
	ImportTasks(ctx context.Context, data []byte, tmpl *agora.Task) ([]*agora.Task, error)
	// Submit scans a submission's patch and stores it (refused, held or
	// queued); created is false for a retry of the same client key.
	Submit(ctx context.Context, s *agora.Submission) (created bool, err error)
	// ReleaseHeld and RejectHeld decide on a held submission, for its
	// task's owner.
	ReleaseHeld(ctx context.Context, id, who string) (*agora.Submission, error)
	RejectHeld(ctx context.Context, id, who string) (*agora.Submission, error)
	// RecordResult stores a validator's result and moves a league
	// job's agent on.
	RecordResult(ctx context.Context, r *agora.Result, log []byte) (*agora.Result, bool, error)
	// MayEvaluate says whether who is a registered miner (EFORBIDDEN).
	MayEvaluate(who string) error
	// PeerEvaluate records a registered miner's evaluation (r.Validator).
	PeerEvaluate(ctx context.Context, r *agora.Result) (*agora.Result, error)
	// AssignPeers gives evaluators to peer_evaluation submissions.
	AssignPeers(ctx context.Context) error
	// CloseEpoch freezes the next reward epoch on behalf of who.
	CloseEpoch(ctx context.Context, who string) (*agora.Epoch, error)
	// ClaimProof and ClaimMultiProof prove claims in epoch n (the latest
	// for n < 0).
	ClaimProof(ctx context.Context, n int, hotkey string) (*agora.ClaimProof, error)
	ClaimMultiProof(ctx context.Context, n int, hotkeys []string) (*agora.ClaimMultiProof, error)
	// PutLeague configures a league.
	PutLeague(ctx context.Context, l *agora.League) error
	// LeagueStandings returns a league, its final versions ranked and the
	// versions still running.
	LeagueStandings(ctx context.Context, competition string) (l *agora.League, standings, running []*agora.Agent, err error)
	// UploadAgent checks and stores an agent version (a's Competition,
	// Miner and Version set) with its code, the signed SHA-256 and the
	// signature.
	UploadAgent(ctx context.Context, a *agora.Agent, code []byte, sha256, signature string) error
}

// Server defaults.
const (
	DefaultMaxBody       = 1 << 20
	DefaultResultMaxBody = agora.MaxLogBytes*2 + 1<<20 // a JSON-escaped log fits
	DefaultImportMaxBody = 256 << 20
	DefaultRate          = 10.0 // requests per second per hotkey
	DefaultBurst         = 40
	DefaultMaxLeaseTTL   = time.Hour

	// DefaultReadHeaderTimeout bounds reading a request's headers.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds reading a signed request's body: enough for
	// the largest cap (DefaultImportMaxBody) at about 1 MiB/s. Each route
	// gets less: 30 s plus its cap at MinBodyRate.
	DefaultReadTimeout = 5 * time.Minute
	// MinBodyRate is the slowest upload, in bytes per second, a route's
	// read deadline allows for its full cap.
	MinBodyRate = 1 << 20
	// DefaultIdleTimeout closes idle keep-alive connections.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxHeaderBytes bounds the request line and headers; Epistula
	// needs well under 1 KiB.
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultLargeBody is the size above which a body counts as large: it
	// is read only holding one of MaxLargeBodies slots.
	DefaultLargeBody = 1 << 20
	// DefaultMaxLargeBodies is how many large bodies are read at once.
	DefaultMaxLargeBodies = 2
	// DefaultLargeBodyWait is how long a large body waits for a slot before
	// the request is refused with 503.
	DefaultLargeBodyWait = 2 * time.Second
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
	Addr  string // listen address; ":0" picks a port
	Store Store
	// Coordinator is the logic the routes call beyond reading the store.
	Coordinator Coordinator
	// Dataset serves the public dataset's downloads (dataset.Cache); nil
	// answers them with 503.
	Dataset  agora.DatasetService
	Verifier agora.RequestVerifier
	Roles    Roles
	// Address is the coordinator's own SS58 address, published at
	// /api/v1/info so clients can sign requests for it.
	Address string
	// Rate and Burst limit each hotkey's signed requests.
	Rate     float64
	Burst    int
	LeaseTTL time.Duration // default lease when a validator asks for none

	// AcceptPlainEpistula accepts signed requests without
	// Epistula-Request-Target, for clients that only speak plain Epistula,
	// but only when the body names the request itself: a JSON object whose
	// "epistula_request_target" member equals the method and target
	// ("POST /api/v1/tasks/x/close"). The member is checked before the
	// handler runs and removed from the body it sees. Off by default.
	AcceptPlainEpistula bool
	// BTAuth, when set, mounts the BitSota compatibility surface under
	// BitSotaPrefix, whose requests it verifies (BT-AUTH-V1); see
	// bitsota.go. Nil by default.
	BTAuth *hotkey.BTAuthVerifier
	// btStore is Store's BitSota records (work items, onboarding texts),
	// when it keeps them (sqldb.DB does); see registerBitSotaRoutes.
	btStore BitSotaStore
	// ReadTimeout caps the time to read a signed request's body (default
	// DefaultReadTimeout); each route gets 30 s plus its cap at MinBodyRate,
	// up to this. It is a per-request deadline, not http.Server.ReadTimeout,
	// which would also cut off long-lived event streams.
	ReadTimeout time.Duration
	// MaxHeaderBytes bounds request headers (default DefaultMaxHeaderBytes).
	MaxHeaderBytes int
	// LargeBody, MaxLargeBodies and LargeBodyWait bound how many bodies
	// over LargeBody bytes (or of unknown length, on routes that allow
	// more) are read at once; a request that waits longer than
	// LargeBodyWait for a slot gets 503. Defaults DefaultLargeBody,
	// DefaultMaxLargeBodies, DefaultLargeBodyWait.
	LargeBody      int64
	MaxLargeBodies int
	LargeBodyWait  time.Duration

	// permitted are hotkeys with a validator permit on the subnet, set by
	// SetPermittedValidators; they are validators besides Roles.Validators.
	permitted atomic.Pointer[map[string]bool]
	Logger    *slog.Logger
	Now       func() time.Time

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
	verifier headerVerifier
	large    chan struct{}
	pages    *web.Renderer
	boards   boardCache
}

// headerVerifier is the two-step form of agora.RequestVerifier that
// hotkey.Verifier provides: the server checks the headers (and the signer's
// role) before it reads a body, and the signature over the body after.
type headerVerifier interface {
	VerifyHeader(h http.Header, now time.Time) (*hotkey.SignedHeader, error)
	VerifyEarly(ctx context.Context, sh *hotkey.SignedHeader) (string, error)
	VerifyBody(ctx context.Context, sh *hotkey.SignedHeader, body []byte) (string, error)
}

// Open listens on Addr and serves in the background.
func (s *Server) Open() error {
	if s.Store == nil || s.Verifier == nil || s.Coordinator == nil {
		return errors.New("http: Server needs a Store, a Coordinator and a Verifier")
	}
	hv, ok := s.Verifier.(headerVerifier)
	if !ok {
		return errors.New("http: Server's Verifier must verify headers before bodies (VerifyHeader, VerifyBody), as hotkey.Verifier does")
	}
	s.verifier = hv
	if s.ReadTimeout <= 0 {
		s.ReadTimeout = DefaultReadTimeout
	}
	if s.MaxHeaderBytes <= 0 {
		s.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if s.LargeBody <= 0 {
		s.LargeBody = DefaultLargeBody
	}
	if s.MaxLargeBodies <= 0 {
		s.MaxLargeBodies = DefaultMaxLargeBodies
	}
	if s.LargeBodyWait <= 0 {
		s.LargeBodyWait = DefaultLargeBodyWait
	}
	s.large = make(chan struct{}, s.MaxLargeBodies)
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
	// No ReadTimeout or WriteTimeout here: they would cut off the event
	// stream. Signed routes set a read deadline for their body instead, and
	// no other route reads one.
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    s.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelDebug),
	}
	go s.srv.Serve(ln)
	s.Logger.Info("listening", "url", s.URL())
	return nil
}

// registerRoutes registers every resource's routes; each resource's file
// holds its routes, their handlers and the Client's methods for them.
func (s *Server) registerRoutes() {
	s.registerInfoRoutes()
	s.registerTaskRoutes()
	s.registerLeaderboardRoutes()
	s.registerClaimRoutes()
	s.registerSubmissionRoutes()
	s.registerPeerRoutes()
	s.registerVerificationRoutes()
	s.registerReplayRoutes()
	s.registerJobRoutes()
	s.registerEventRoutes()
	s.registerEpochRoutes()
	s.registerLeagueRoutes()
	s.registerHeldRoutes()
	s.registerDatasetRoutes()
	s.registerBitSotaRoutes()
	s.registerDashboardRoutes()
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
	addr, ok := s.ln.Addr().(*net.TCPAddr)
	if !ok {
		return "http://" + s.ln.Addr().String()
	}
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

// Unwrap lets http.ResponseController reach the connection, for read
// deadlines.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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

// signed wraps h for a route whose caller needs role ("" means any role:
// owner, validator or miner) and whose body may be at most max bytes. In
// order, so that nothing unauthenticated costs more than its headers:
//
//  1. the Epistula headers: format, freshness, receiver, and the request
//     target, which must name this request (plain Epistula only with
//     AcceptPlainEpistula);
//  2. the claimed signer's role: a hotkey without it is refused (403)
//     before its body is read;
//  3. with Agora's extension, the signature itself, over the declared
//     Epistula-Body-Sha256, and the nonce: a forged or replayed request is
//     refused (401) before its body is read;
//  4. a declared Content-Length over max is refused (413) unread;
//  5. a large body waits for one of MaxLargeBodies slots (503 past
//     LargeBodyWait), then is read under a read deadline and cut off past
//     max (413, for chunked bodies too);
//  6. the body against the signed hash (plain Epistula: the signature over
//     the body, and the nonce, then the body's own target);
//  7. the rate limit, and h.
func (s *Server) signed(role string, max int64, h signedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sh, err := s.verifyHeader(r)
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		if !s.mayAct(role, sh.Signer) {
			if role == "" {
				writeError(w, r, s.Logger, agora.Errorf(agora.EFORBIDDEN, "%s has no role here (owner, validator or miner)", sh.Signer))
			} else {
				writeError(w, r, s.Logger, agora.Errorf(agora.EFORBIDDEN, "%s is not a registered %s", sh.Signer, role))
			}
			return
		}
		switch {
		case sh.BodySHA256 != "":
			if _, err := s.verifier.VerifyEarly(r.Context(), sh); err != nil {
				s.refuse(w, r, err)
				return
			}
		case sh.Target != "":
			// The extension is the pair: without the declared hash, the
			// body would have to be read before anything is proven.
			s.refuse(w, r, agora.Errorf(agora.EUNAUTHORIZED, "missing header %s: declare sha256hex(body) so the signature is checked before the body is read", hotkey.HeaderBodySHA256))
			return
		}
		if r.ContentLength > max {
			writeError(w, r, s.Logger, agora.Errorf(agora.ETOOLARGE, "body: %d bytes declared, this route takes at most %d", r.ContentLength, max))
			return
		}
		release, err := s.acquireBody(r, max)
		if err != nil {
			w.Header().Set("Retry-After", "1")
			writeError(w, r, s.Logger, err)
			return
		}
		body, err := s.readSignedBody(w, r, max)
		release()
		if err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
		who, err := s.verifier.VerifyBody(r.Context(), sh, body)
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		if sh.Target == "" {
			// Plain Epistula (only with AcceptPlainEpistula): the signed
			// body must name this request.
			if body, err = cutBodyTarget(body, hotkey.RequestTarget(r.Method, r.URL)); err != nil {
				s.refuse(w, r, err)
				return
			}
		}
		if !s.limiter.allow(who, s.Now()) {
			w.Header().Set("Retry-After", "1")
			writeError(w, r, s.Logger, agora.Errorf(agora.ERATELIMIT, "rate limit: at most %.0f requests per second per hotkey", s.Rate))
			return
		}
		r = r.WithContext(agora.NewContextWithHotkey(r.Context(), who))
		if err := h(w, r, who, body); err != nil {
			writeError(w, r, s.Logger, err)
		}
	}
}

// verifyHeader checks a request's Epistula headers and that their request
// target is this request. A plain Epistula request passes only with
// AcceptPlainEpistula (its body must then name the target; see signed).
func (s *Server) verifyHeader(r *http.Request) (*hotkey.SignedHeader, error) {
	sh, err := s.verifier.VerifyHeader(r.Header, s.Now())
	if err != nil {
		return nil, err
	}
	want := hotkey.RequestTarget(r.Method, r.URL)
	switch {
	case sh.Target == "" && !s.AcceptPlainEpistula:
		return nil, agora.Errorf(agora.EUNAUTHORIZED, "missing header %s: sign the method, path and query too (%q)", hotkey.HeaderRequestTarget, want)
	case sh.Target != "" && sh.Target != want:
		return nil, agora.Errorf(agora.EUNAUTHORIZED, "%s %q was signed, but this request is %q", hotkey.HeaderRequestTarget, sh.Target, want)
	}
	return sh, nil
}

// refuse answers a failed verification: 401s are logged at info, anything
// else (a failing nonce store) is the server's problem.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if agora.ErrorCode(err) == agora.EUNAUTHORIZED {
		s.Logger.Info("refused request", "method", r.Method, "path", r.URL.Path, "reason", agora.ErrorMessage(err))
	}
	writeError(w, r, s.Logger, err)
}

// mayAct reports whether who holds role; "" means any role at all.
func (s *Server) mayAct(role, who string) bool {
	if role != "" {
		return s.hasRole(role, who)
	}
	return s.hasRole(agora.RoleOwner, who) || s.hasRole(agora.RoleValidator, who) || s.hasRole(agora.RoleMiner, who)
}

// acquireBody takes a large-body slot when the body may be large: declared
// over LargeBody, or of unknown length on a route that allows more. It
// returns the release func; waiting past LargeBodyWait is EUNAVAILABLE.
func (s *Server) acquireBody(r *http.Request, max int64) (release func(), err error) {
	large := r.ContentLength > s.LargeBody || (r.ContentLength < 0 && max > s.LargeBody)
	if !large {
		return func() {}, nil
	}
	t := time.NewTimer(s.LargeBodyWait)
	defer t.Stop()
	select {
	case s.large <- struct{}{}:
		return func() { <-s.large }, nil
	case <-t.C:
		return nil, agora.Errorf(agora.EUNAVAILABLE, "busy: %d large uploads already in progress; retry shortly", s.MaxLargeBodies)
	case <-r.Context().Done():
		return nil, agora.Errorf(agora.EUNAVAILABLE, "request cancelled while waiting to upload")
	}
}

// readSignedBody reads the body under the route's read deadline, at most
// max bytes.
func (s *Server) readSignedBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	rc := http.NewResponseController(w)
	// A connection that cannot take deadlines (a test recorder) is read
	// without one.
	if rc.SetReadDeadline(time.Now().Add(s.readTimeout(max))) == nil {
		// Cleared once the body is in, so the handler (and the connection's
		// background read) are not cut off.
		defer rc.SetReadDeadline(time.Time{})
	}
	return readCapped(w, r, max)
}

// readTimeout is a route's body read deadline: 30 s plus its cap at
// MinBodyRate, at most ReadTimeout.
func (s *Server) readTimeout(max int64) time.Duration {
	return min(s.ReadTimeout, 30*time.Second+time.Duration(max/MinBodyRate)*time.Second)
}

// public wraps an unsigned handler. A request that does carry a signature
// is verified (over an empty body: public routes read none), so owners and
// validators see what the public does not.
func (s *Server) public(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(hotkey.HeaderSignedBy) != "" {
			sh, err := s.verifyHeader(r)
			if err == nil && sh.Target == "" {
				err = agora.Errorf(agora.EUNAUTHORIZED, "plain Epistula needs a JSON body naming the request, and this route takes none: sign %s too", hotkey.HeaderRequestTarget)
			}
			if err != nil {
				s.refuse(w, r, err)
				return
			}
			who, err := s.verifier.VerifyBody(r.Context(), sh, nil)
			if err != nil {
				s.refuse(w, r, err)
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
