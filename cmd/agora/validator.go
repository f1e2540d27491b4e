package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/artifact"
	"github.com/agoranet/agora/chain"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/sandbox"
	"github.com/agoranet/agora/validator"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ValidatorCommand runs a validator against a coordinator.
type ValidatorCommand struct {
	Stdout, Stderr io.Writer

	Coordinator   string
	Key           keyFlags
	Concurrency   int
	LeaseTTL      time.Duration
	Poll          time.Duration
	Drain         time.Duration
	Runtime       string
	StateDir      string
	CacheDir      string
	EnvSpecs      listFlag
	RepoSource    string
	MetricsListen string
	Verbose       bool
	// Proxy configures the inference proxy served inside league agent
	// runs; ProxyLedger is where its spend is kept.
	Proxy       proxyFlags
	ProxyLedger string
	// Chain, when set, is a subtensor node's JSON-RPC URL: weights are set
	// there on the subnet's tempo. Without it they are only logged.
	Chain        string
	Netuid       uint
	VersionKey   string
	CommitReveal string
	WeightsEvery time.Duration
	// UIDRange is the host ids sandbox runs run as ("first-last").
	UIDRange string
	// ArtifactBudget and ArtifactReserve bound the artifact cache: bytes
	// kept at most, and free disk space a download must leave.
	ArtifactBudget  string
	ArtifactReserve string

	uids            sandbox.IDRange
	artifactBudget  int64
	artifactReserve int64
	artifacts       *artifact.Fetcher

	// Extra environment specs added by `agora up` (the demo's).
	extraEnvs [][]byte
	// closers release what build made (the sandbox's warm pool).
	closers []func() error
}

// ParseFlags reads the validator's flags.
func (c *ValidatorCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("agora-validator", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.StringVar(&c.Coordinator, "coordinator", envOr("AGORA_COORDINATOR", "http://"+DefaultCoordinatorListen), "coordinator `URL` [$AGORA_COORDINATOR]")
	c.Key.register(fs, "AGORA_VALIDATOR_")
	fs.IntVar(&c.Concurrency, "concurrency", 1, "jobs replayed at once")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", validator.DefaultLeaseTTL, "lease `duration` asked for; renewed every third of it")
	fs.DurationVar(&c.Poll, "poll", validator.DefaultPoll, "how often to ask for work when no event arrives")
	fs.DurationVar(&c.Drain, "drain", validator.DefaultDrain, "on SIGTERM, how long jobs in hand may still run before they are released")
	fs.StringVar(&c.Runtime, "runtime", sandbox.RuntimeRunc, "sandbox runtime: runc or runsc")
	fs.StringVar(&c.StateDir, "state-dir", "", "sandbox state `directory` (default /run/agora)")
	fs.StringVar(&c.CacheDir, "cache-dir", "~/.cache/agora", "repositories, environment layers and artifacts")
	fs.Var(&c.EnvSpecs, "env-specs", "environment spec `file`s (default: the embedded SWE-bench specs)")
	fs.StringVar(&c.RepoSource, "repo-source", "", "repository location `template` overriding swe tasks' URLs, e.g. mirrors/{owner}+{name}/repo")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "", "serve Prometheus /metrics on this `address`")
	fs.BoolVar(&c.Verbose, "v", false, "debug logging")
	fs.StringVar(&c.UIDRange, "uid-range", sandbox.DefaultIDRange().String(), "host uids (and gids) sandbox runs take one each of, `first-last`")
	fs.StringVar(&c.ArtifactBudget, "artifact-budget", "20GiB", "disk `bytes` the artifact cache may hold; least recently used artifacts not in use are evicted")
	fs.StringVar(&c.ArtifactReserve, "artifact-reserve", "1GiB", "free disk `bytes` an artifact download must leave on the cache's filesystem")
	c.Proxy.register(fs)
	fs.StringVar(&c.Chain, "chain", os.Getenv("AGORA_CHAIN"), "subtensor node JSON-RPC `URL` to set weights on (none: log what would be set) [$AGORA_CHAIN]")
	fs.UintVar(&c.Netuid, "netuid", 1, "subnet `id`")
	fs.StringVar(&c.VersionKey, "version-key", "0", "weights version key: an integer, or an SDK version string such as 10.2.0")
	fs.StringVar(&c.CommitReveal, "commit-reveal", validator.CommitRevealAuto, "weights by commit-reveal v2: auto (as the subnet says), on or off")
	fs.DurationVar(&c.WeightsEvery, "weights-every", 10*time.Minute, "without --chain, how often to log the weights that would be set")
	fs.StringVar(&c.ProxyLedger, "proxy-ledger", "", "SQLite `file` keeping every agent run's proxy spend (default CACHE-DIR/proxy-ledger.db)")
	fs.Usage = func() {
		fmt.Fprint(c.Stderr, "Usage: agora validator --coordinator URL --hotkey-file FILE [flags]\n\nLeases replay jobs, replays each in a sandbox, and posts signed results.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("validator: unexpected argument %q", fs.Arg(0))}
	}
	switch {
	case c.Concurrency < 1 || c.Concurrency > 64:
		return agora.Errorf(agora.EINVALID, "--concurrency: 1-64")
	case c.LeaseTTL < 3*time.Second:
		return agora.Errorf(agora.EINVALID, "--lease-ttl: at least 3s")
	case !strings.HasPrefix(c.Coordinator, "http://") && !strings.HasPrefix(c.Coordinator, "https://"):
		return agora.Errorf(agora.EINVALID, "--coordinator: %q is not an http(s) URL", c.Coordinator)
	}
	switch {
	case c.Netuid > 65535:
		return agora.Errorf(agora.EINVALID, "--netuid: at most 65535")
	case c.CommitReveal != validator.CommitRevealAuto && c.CommitReveal != validator.CommitRevealOn && c.CommitReveal != validator.CommitRevealOff:
		return agora.Errorf(agora.EINVALID, "--commit-reveal: auto, on or off")
	case c.WeightsEvery < time.Second:
		return agora.Errorf(agora.EINVALID, "--weights-every: at least 1s")
	}
	if _, err := c.versionKey(); err != nil {
		return err
	}
	var err error
	if c.uids, err = sandbox.ParseIDRange(c.UIDRange); err != nil {
		return agora.Errorf(agora.EINVALID, "--uid-range: %s", agora.ErrorMessage(err))
	}
	if c.artifactBudget, err = parseBytes(c.ArtifactBudget); err != nil || c.artifactBudget < 1<<20 {
		return agora.Errorf(agora.EINVALID, "--artifact-budget: %q: want a size of at least 1MiB, e.g. 20GiB", c.ArtifactBudget)
	}
	if c.artifactReserve, err = parseBytes(c.ArtifactReserve); err != nil {
		return agora.Errorf(agora.EINVALID, "--artifact-reserve: %q: want a size, e.g. 1GiB or 0", c.ArtifactReserve)
	}
	if c.artifactReserve == 0 {
		c.artifactReserve = -1 // none; 0 would mean the default
	}
	if c.Proxy.set() {
		_, err := c.Proxy.Config()
		return err
	}
	return nil
}

// versionKey reads --version-key.
func (c *ValidatorCommand) versionKey() (uint64, error) {
	if vk, err := strconv.ParseUint(c.VersionKey, 10, 64); err == nil {
		return vk, nil
	}
	vk, err := chain.VersionAsInt(c.VersionKey)
	if err != nil {
		return 0, agora.Errorf(agora.EINVALID, "--version-key: %v", err)
	}
	return vk, nil
}

// weightSetter sets weights from the coordinator's snapshots on --chain,
// or logs them when there is none.
func (c *ValidatorCommand) weightSetter(signer *hotkey.Signer, client *agorahttp.Client) (*validator.WeightSetter, error) {
	vk, err := c.versionKey()
	if err != nil {
		return nil, err
	}
	w := &validator.WeightSetter{Signer: signer, Netuid: uint16(c.Netuid), VersionKey: vk, CommitReveal: c.CommitReveal,
		Snapshots: client, Every: c.WeightsEvery, Logger: c.logger().With("component", "weights")}
	if c.Chain != "" {
		cl, err := chain.New(c.Chain, chain.Options{})
		if err != nil {
			return nil, agora.Errorf(agora.EINVALID, "--chain: %s", agora.ErrorMessage(err))
		}
		w.Chain = cl
	}
	return w, nil
}

// Run parses flags and validates until SIGINT/SIGTERM.
func (c *ValidatorCommand) Run(ctx context.Context, args []string) error {
	if err := c.ParseFlags(args); err != nil {
		return err
	}
	signer, err := c.Key.load()
	if err != nil {
		return err
	}
	client := agorahttp.NewClient(c.Coordinator, signer)
	v, err := c.build(ctx, signer.Address(), client)
	defer c.Close()
	if err != nil {
		return err
	}
	w, err := c.weightSetter(signer, client)
	if err != nil {
		return err
	}
	go w.Run(ctx)
	return v.Run(ctx)
}

// Close releases the sandbox's warm pool and anything else build made.
func (c *ValidatorCommand) Close() error {
	var first error
	for _, f := range c.closers {
		if err := f(); err != nil && first == nil {
			first = err
		}
	}
	c.closers = nil
	return first
}

func (c *ValidatorCommand) logger() *slog.Logger {
	level := slog.LevelInfo
	if c.Verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: level})).With("component", "validator")
}

// replayer wires the sandbox and the replay engine.
func (c *ValidatorCommand) replayer() (*validator.HarnessReplayer, error) {
	cfg := &replayerConfig{Runtime: c.Runtime, StateDir: c.StateDir, CacheDir: c.CacheDir, RepoSource: c.RepoSource, EnvSpecs: c.EnvSpecs,
		ExtraEnvs: c.extraEnvs, UIDs: c.uids, ArtifactBudget: c.artifactBudget, ArtifactReserve: c.artifactReserve}
	r, artifacts, closeSandbox, err := cfg.open(c.logger())
	c.closers = append(c.closers, closeSandbox)
	c.artifacts = artifacts
	return r, err
}

// build wires the replay engine and the coordinator client.
func (c *ValidatorCommand) build(ctx context.Context, address string, client *agorahttp.Client) (*validator.Validator, error) {
	log := c.logger()
	replayer, err := c.replayer()
	if err != nil {
		return nil, err
	}
	replayer.Agents = client
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	if c.Proxy.set() {
		ledger := c.ProxyLedger
		if ledger == "" {
			ledger = filepath.Join(expandHome(c.CacheDir), "proxy-ledger.db")
		}
		p, closeLedger, err := c.Proxy.open(ctx, ledger, reg, log)
		if err != nil {
			return nil, err
		}
		c.closers = append(c.closers, closeLedger)
		replayer.Proxy = p
	} else {
		log.Warn("no --upstream: league agents run with no inference proxy (their calls fail)")
	}
	if c.MetricsListen != "" {
		ln, err := net.Listen("tcp", c.MetricsListen)
		if err != nil {
			return nil, agora.Errorf(agora.EUNAVAILABLE, "--metrics-listen: %v", err)
		}
		go http.Serve(ln, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	}
	prog := newJobProgress(c.Stderr)
	log.Info("validator", "hotkey", address, "coordinator", c.Coordinator, "runtime", c.Runtime, "concurrency", c.Concurrency)
	return &validator.Validator{
		Coordinator: client,
		Replayer:    replayer,
		Concurrency: c.Concurrency, LeaseTTL: c.LeaseTTL, Poll: c.Poll, Drain: c.Drain,
		Logger: log, Registry: reg, OnJob: prog.event,
		Artifacts: c.artifacts,
		// The key that signs the requests signs the results too.
		Signer: client.Signer,
	}, nil
}

// parseBytes reads a size: a number with an optional unit (B, KiB, MiB,
// GiB, TiB, or KB, MB, GB, TB for powers of 1000).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	mult := map[string]float64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
	if mult == 0 || n*mult > 1<<62 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(n * mult), nil
}

// jobProgress shows running and finished jobs: one status line redrawn on
// a terminal, nothing extra otherwise (the log has a line per job).
type jobProgress struct {
	mu                          sync.Mutex
	w                           io.Writer
	tty                         bool
	running, accepted, rejected int
	errors                      int
}

func newJobProgress(w io.Writer) *jobProgress {
	p := &jobProgress{w: w}
	if f, ok := w.(*os.File); ok && os.Getenv("CI") == "" {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *jobProgress) event(ev validator.JobEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !ev.Done {
		p.running++
	} else {
		p.running--
		switch ev.Result.Status {
		case agora.ResultAccepted:
			p.accepted++
		case agora.ResultRejected:
			p.rejected++
		default:
			p.errors++
		}
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[Kvalidator: %d running · %d accepted · %d rejected · %d error\n", p.running, p.accepted, p.rejected, p.errors)
	}
}
