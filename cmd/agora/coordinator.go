package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/chain"
	"github.com/agoranet/agora/coordinator"
	"github.com/agoranet/agora/dataset"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/sqldb"
)

// Coordinator defaults.
const (
	DefaultCoordinatorListen = "127.0.0.1:8420"
	DefaultDataDir           = "~/.local/share/agora"
)

// CoordinatorCommand runs the coordinator: the HTTP API over a SQLite file
// (the default, no set-up) or PostgreSQL.
type CoordinatorCommand struct {
	Stdout, Stderr io.Writer

	Listen      string
	DB          string
	DataDir     string
	Owners      listFlag
	Validators  listFlag
	Miners      listFlag
	Key         keyFlags
	LeaseTTL    time.Duration
	MaxAttempts int
	Rate        float64
	Burst       int
	RepoSource  string
	Verbose     bool
	Rewards     listFlag
	EpochEvery  time.Duration
	EpochBudget uint64
	Weights     listFlag
	ClaimLeaf   string
	Chain       string
	Netuid      uint
	PermitsEach time.Duration
	// AcceptPlainEpistula, ReadTimeout and MaxLargeBodies set the server's
	// fields of the same names.
	AcceptPlainEpistula bool
	ReadTimeout         time.Duration
	MaxLargeBodies      int
	// BitSota mounts the BitSota compatibility surface (BT-AUTH-V1) under
	// /bitsota; BitSotaWindow is its timestamp window.
	BitSota       bool
	BitSotaWindow time.Duration
	// DatasetMaxAge is how long one generated export of the public
	// dataset is served (0: dataset.DefaultMaxAge).
	DatasetMaxAge time.Duration

	// Set by Open.
	Store       *sqldb.DB
	Coordinator *coordinator.Coordinator
	Server      *agorahttp.Server
	Signer      *hotkey.Signer
	Dataset     *dataset.Cache
	cancel      context.CancelFunc
	done        chan struct{}
}

// ParseFlags reads flags, with environment variables as defaults.
func (c *CoordinatorCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("agora-coordinator", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.StringVar(&c.Listen, "listen", envOr("AGORA_LISTEN", DefaultCoordinatorListen), "listen `address` [$AGORA_LISTEN]")
	fs.StringVar(&c.DB, "db", os.Getenv("AGORA_DB"), "SQLite file `path` or postgres:// URL (default DATA-DIR/coordinator.db) [$AGORA_DB]")
	fs.StringVar(&c.DataDir, "data-dir", envOr("AGORA_DATA_DIR", DefaultDataDir), "data `directory` for the SQLite file and the coordinator's key [$AGORA_DATA_DIR]")
	c.Owners, c.Validators, c.Miners = envList("AGORA_OWNERS"), envList("AGORA_VALIDATORS"), envList("AGORA_MINERS")
	fs.Var(&c.Owners, "owner", "owner hotkey SS58 `address`es, repeatable or comma-separated [$AGORA_OWNERS]")
	fs.Var(&c.Validators, "validator", "validator hotkey `address`es (the allowlist) [$AGORA_VALIDATORS]")
	fs.Var(&c.Miners, "miner", "miner hotkey `address`es; none means any hotkey may mine; these (and, with --chain, the metagraph's hotkeys) are the miners assigned peer evaluations, closed when there are none [$AGORA_MINERS]")
	c.Key.register(fs, "AGORA_COORDINATOR_")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", agora.DefaultLeaseTTL, "default job lease `duration`")
	fs.IntVar(&c.MaxAttempts, "max-attempts", agora.DefaultMaxAttempts, "leases a job gets before it fails")
	fs.Float64Var(&c.Rate, "rate", agorahttp.DefaultRate, "signed requests per second per hotkey")
	fs.IntVar(&c.Burst, "burst", agorahttp.DefaultBurst, "rate limit burst per hotkey")
	fs.StringVar(&c.RepoSource, "repo-source", agora.DefaultRepoSource, "repository `template` for imported SWE-bench tasks")
	fs.BoolVar(&c.Verbose, "v", false, "log every request")
	fs.Var(&c.Rewards, "reward-policy", "reward `policy` competition:mode:budget[:carry] (mode winner_takes_all or proportional; budget a whole number of units, or w=WEIGHT for a share of --epoch-budget), repeatable")
	fs.Uint64Var(&c.EpochBudget, "epoch-budget", 0, "`units` per epoch shared among --reward-policy competitions given as w=WEIGHT")
	fs.Var(&c.Weights, "weight-target", "validator weight `target` uid:N=SHARE, hotkey:SS58=SHARE or miners=SHARE, repeatable; shares sum to 1; frozen into each reward snapshot")
	fs.StringVar(&c.Chain, "chain", os.Getenv("AGORA_CHAIN"), "subtensor node JSON-RPC `URL`: hotkeys with a validator permit on --netuid become validators too, and every registered hotkey may be assigned peer evaluations [$AGORA_CHAIN]")
	fs.UintVar(&c.Netuid, "netuid", 1, "subnet `id` whose metagraph --chain reads")
	fs.DurationVar(&c.PermitsEach, "permits-every", 5*time.Minute, "how often to re-read validator permits and registered miners from --chain")
	fs.StringVar(&c.ClaimLeaf, "claim-leaf", coordinator.ClaimLeafBytes32, "claim tree leaf `types`: bytes32,uint256 (hotkey public key) or address,uint256 (its first 20 bytes, the Bittensor EVM mapping)")
	fs.BoolVar(&c.AcceptPlainEpistula, "accept-plain-epistula", os.Getenv("AGORA_ACCEPT_PLAIN_EPISTULA") == "1",
		"also accept plain Epistula signatures (no Epistula-Request-Target), only when the JSON body's \""+agorahttp.BodyTargetField+"\" names the request (\"POST /api/v1/...\") [$AGORA_ACCEPT_PLAIN_EPISTULA=1]")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", agorahttp.DefaultReadTimeout, "longest `duration` to read a signed request's body (each route: 30s plus its size cap at 1 MiB/s, up to this)")
	fs.IntVar(&c.MaxLargeBodies, "max-large-bodies", agorahttp.DefaultMaxLargeBodies, "request bodies over 1 MiB read at once; more wait briefly, then get 503")
	fs.BoolVar(&c.BitSota, "bitsota", os.Getenv("AGORA_BITSOTA") == "1",
		"serve BitSota's research clients at "+agorahttp.BitSotaPrefix+" (their routes and shapes, BT-AUTH-V1 signatures): point them at http://HOST"+agorahttp.BitSotaPrefix+" [$AGORA_BITSOTA=1]")
	fs.DurationVar(&c.BitSotaWindow, "bitsota-window", hotkey.DefaultBTAuthWindow, "how far a BT-AUTH-V1 X-Timestamp may be from the coordinator's clock, either way (seen signatures are remembered that long)")
	fs.DurationVar(&c.DatasetMaxAge, "dataset-max-age", dataset.DefaultMaxAge, "how long one export of the public dataset (GET /api/v1/dataset/...) is served before the next request generates a new one, under DATA-DIR/dataset")
	fs.DurationVar(&c.EpochEvery, "epoch-every", 0, "close a reward epoch this often (0: only on demand, POST /api/v1/epochs/close)")
	fs.Usage = func() {
		fmt.Fprintf(c.Stderr, "Usage: agora coordinator [flags]\n\nRuns the coordinator API. With no flags it serves on %s with a SQLite file in %s.\n\n", DefaultCoordinatorListen, DefaultDataDir)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("coordinator: unexpected argument %q", fs.Arg(0))}
	}
	return c.Validate()
}

// Validate checks the configuration, naming the flag at fault.
func (c *CoordinatorCommand) Validate() error {
	for name, l := range map[string]listFlag{"owner": c.Owners, "validator": c.Validators, "miner": c.Miners} {
		if err := checkAddresses(name, l); err != nil {
			return err
		}
	}
	switch {
	case c.LeaseTTL < time.Second:
		return agora.Errorf(agora.EINVALID, "--lease-ttl: at least 1s")
	case c.MaxAttempts < 1:
		return agora.Errorf(agora.EINVALID, "--max-attempts: at least 1")
	case c.Rate <= 0 || c.Burst < 1:
		return agora.Errorf(agora.EINVALID, "--rate and --burst must be positive")
	case c.ReadTimeout < time.Second:
		return agora.Errorf(agora.EINVALID, "--read-timeout: at least 1s")
	case c.BitSota && (c.BitSotaWindow < time.Second || c.BitSotaWindow > 5*time.Minute):
		return agora.Errorf(agora.EINVALID, "--bitsota-window: 1s to 5m")
	case c.DatasetMaxAge != 0 && c.DatasetMaxAge < time.Second:
		return agora.Errorf(agora.EINVALID, "--dataset-max-age: at least 1s")
	case c.MaxLargeBodies < 1:
		return agora.Errorf(agora.EINVALID, "--max-large-bodies: at least 1")
	case c.EpochEvery != 0 && c.EpochEvery < time.Minute:
		return agora.Errorf(agora.EINVALID, "--epoch-every: at least 1m")
	case c.EpochEvery != 0 && len(c.Rewards) == 0:
		return agora.Errorf(agora.EINVALID, "--epoch-every needs at least one --reward-policy")
	case c.Netuid > 65535:
		return agora.Errorf(agora.EINVALID, "--netuid: at most 65535")
	case c.Chain != "" && c.PermitsEach < 10*time.Second:
		return agora.Errorf(agora.EINVALID, "--permits-every: at least 10s")
	}
	if c.Chain != "" {
		if _, err := chain.New(c.Chain, chain.Options{}); err != nil {
			return agora.Errorf(agora.EINVALID, "--chain: %s", agora.ErrorMessage(err))
		}
	}
	if _, err := c.rewardPolicies(); err != nil {
		return err
	}
	if _, err := c.weightPolicy(); err != nil {
		return err
	}
	if _, err := coordinator.ParseClaimLeaf(c.ClaimLeaf); err != nil {
		return agora.Errorf(agora.EINVALID, "--claim-leaf: %s", agora.ErrorMessage(err))
	}
	return nil
}

// weightPolicy parses --weight-target values; nil when there are none.
func (c *CoordinatorCommand) weightPolicy() (*agora.WeightPolicy, error) {
	if len(c.Weights) == 0 {
		return nil, nil
	}
	p := &agora.WeightPolicy{}
	for _, v := range c.Weights {
		t, err := agora.ParseWeightTarget(v)
		if err != nil {
			return nil, agora.Errorf(agora.EINVALID, "--weight-target: %s", agora.ErrorMessage(err))
		}
		p.Targets = append(p.Targets, t)
	}
	if err := p.Validate(); err != nil {
		return nil, agora.Errorf(agora.EINVALID, "--weight-target: %s", agora.ErrorMessage(err))
	}
	return p, nil
}

// rewardPolicies parses --reward-policy values (agora.ParseRewardPolicy);
// a weight needs --epoch-budget to be a share of.
func (c *CoordinatorCommand) rewardPolicies() ([]agora.RewardPolicy, error) {
	var out []agora.RewardPolicy
	for _, v := range c.Rewards {
		p, err := agora.ParseRewardPolicy(v)
		if err != nil {
			return nil, agora.Errorf(agora.EINVALID, "--reward-policy: %s", agora.ErrorMessage(err))
		}
		if p.Weight > 0 && c.EpochBudget == 0 {
			return nil, agora.Errorf(agora.EINVALID, "--reward-policy %q: a weight needs --epoch-budget", v)
		}
		if err := p.Validate(); err != nil {
			return nil, agora.Errorf(agora.EINVALID, "--reward-policy %q: %s", v, agora.ErrorMessage(err))
		}
		out = append(out, p)
	}
	return out, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func expandHome(p string) string {
	if len(p) > 1 && p[:2] == "~/" {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[2:])
		}
	}
	return p
}

// Open opens the store, loads or creates the coordinator's key, and starts
// the server and the lease sweeper.
func (c *CoordinatorCommand) Open(ctx context.Context) error {
	level := slog.LevelInfo
	if c.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: level}))
	dataDir := expandHome(c.DataDir)
	dsn := c.DB
	if dsn == "" {
		dsn = filepath.Join(dataDir, "coordinator.db")
	}
	var err error
	if c.Signer, err = c.loadKey(dataDir, log); err != nil {
		return err
	}
	c.Store, err = sqldb.Open(ctx, dsn)
	if err != nil {
		return err
	}
	c.Store.MaxAttempts = c.MaxAttempts
	verifier := hotkey.NewVerifier(c.Signer.Address())
	verifier.Nonces = c.Store // shared by every replica on one database
	c.Coordinator = &coordinator.Coordinator{Store: c.Store, EpochBudget: c.EpochBudget, ClaimLeaf: c.ClaimLeaf,
		RepoSource: c.RepoSource, Miners: c.Miners, Logger: log.With("component", "coordinator")}
	c.Coordinator.Rewards, _ = c.rewardPolicies()
	c.Coordinator.WeightPolicy, _ = c.weightPolicy()
	c.Server = &agorahttp.Server{
		Addr: c.Listen, Store: c.Store, Coordinator: c.Coordinator, Verifier: verifier, Address: c.Signer.Address(),
		Roles: agorahttp.Roles{Owners: c.Owners, Validators: c.Validators, Miners: c.Miners},
		Rate:  c.Rate, Burst: c.Burst, LeaseTTL: c.LeaseTTL, Logger: log,
	}
	c.Server.AcceptPlainEpistula = c.AcceptPlainEpistula
	c.Dataset = &dataset.Cache{Store: c.Store, Dir: filepath.Join(dataDir, "dataset"), MaxAge: c.DatasetMaxAge}
	c.Server.Dataset = c.Dataset
	c.Server.ReadTimeout, c.Server.MaxLargeBodies = c.ReadTimeout, c.MaxLargeBodies
	if c.BitSota {
		c.Server.BTAuth = &hotkey.BTAuthVerifier{Window: c.BitSotaWindow, Nonces: c.Store}
		log.Info("serving BitSota's clients (BT-AUTH-V1)", "prefix", agorahttp.BitSotaPrefix, "window", c.BitSotaWindow)
	}
	if c.AcceptPlainEpistula {
		log.Warn("accepting plain Epistula signatures where the body names the request (--accept-plain-epistula)")
	}
	c.Store.OnEvent = c.Server.Notify
	if err := c.Server.Open(); err != nil {
		c.Store.Close()
		return err
	}
	log.Info("coordinator", "url", c.Server.URL(), "db", redactDSN(dsn), "dialect", c.Store.Dialect(), "address", c.Signer.Address(),
		"owners", len(c.Owners), "validators", len(c.Validators))
	if len(c.Owners) == 0 {
		log.Warn("no owners configured: nobody can post tasks (use --owner)")
	}
	if len(c.Validators) == 0 && c.Chain == "" {
		log.Warn("no validators configured: submissions will wait for a verdict (use --validator or --chain)")
	}
	sweepCtx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	go c.sweep(sweepCtx, log)
	return nil
}

// loadKey uses the configured key, or the one kept in the data directory,
// creating it on first start so a zero-configuration coordinator has a
// stable address.
func (c *CoordinatorCommand) loadKey(dataDir string, log *slog.Logger) (*hotkey.Signer, error) {
	if c.Key.set() {
		return c.Key.load()
	}
	path := filepath.Join(dataDir, "coordinator-hotkey.json")
	if s, err := hotkey.ReadWalletFile(path); err == nil {
		return s, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("coordinator key %s: %w", path, err)
	}
	s, _, err := hotkey.Generate(12)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	if err := hotkey.WriteWalletFile(path, s, false); err != nil {
		return nil, fmt.Errorf("coordinator key %s: %w", path, err)
	}
	log.Info("created the coordinator's hotkey", "path", path, "address", s.Address())
	return s, nil
}

func (c *CoordinatorCommand) sweep(ctx context.Context, log *slog.Logger) {
	defer close(c.done)
	every := min(c.LeaseTTL/4, 5*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	var permits <-chan time.Time
	var chainClient chain.Client
	if c.Chain != "" {
		chainClient, _ = chain.New(c.Chain, chain.Options{})
		c.refreshPermits(ctx, chainClient, log)
		pt := time.NewTicker(c.PermitsEach)
		defer pt.Stop()
		permits = pt.C
	}
	var epochs <-chan time.Time
	if c.EpochEvery > 0 {
		et := time.NewTicker(c.EpochEvery)
		defer et.Stop()
		epochs = et.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-permits:
			c.refreshPermits(ctx, chainClient, log)
		case <-epochs:
			// Replicas race to close; the loser gets ECONFLICT, harmless.
			if _, err := c.Coordinator.CloseEpoch(ctx, "schedule"); err != nil && agora.ErrorCode(err) != agora.ECONFLICT && ctx.Err() == nil {
				log.Warn("scheduled epoch close failed", "err", agora.ErrorMessage(err))
			}
		case <-t.C:
			if n, err := c.Store.ExpireLeases(ctx); err != nil && ctx.Err() == nil {
				log.Warn("lease sweep", "err", err)
			} else if n > 0 {
				log.Info("leases expired, jobs back in the queue", "jobs", n)
			}
			// Picks up league stages whose last verdict came from a failed
			// job or from a replica that crashed before advancing.
			if err := c.Coordinator.AdvanceAgents(ctx); err != nil && ctx.Err() == nil {
				log.Warn("league sweep", "err", agora.ErrorMessage(err))
			}
			if err := c.Coordinator.AssignPeers(ctx); err != nil && ctx.Err() == nil {
				log.Warn("peer assignment sweep", "err", agora.ErrorMessage(err))
			}
		}
	}
}

// refreshPermits makes the metagraph's permitted validators validators and
// its registered hotkeys miners that may evaluate peers. A chain that is
// down keeps the last lists (logged), so a node outage locks nobody out.
func (c *CoordinatorCommand) refreshPermits(ctx context.Context, cl chain.Client, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	neurons, err := cl.Metagraph(ctx, uint16(c.Netuid))
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("validator permits not refreshed; keeping the last list", "chain", redactDSN(c.Chain), "netuid", c.Netuid, "err", agora.ErrorMessage(err))
		}
		return
	}
	permitted := chain.Permitted(neurons)
	c.Server.SetPermittedValidators(permitted)
	// Every registered hotkey is a miner that may be assigned peer
	// evaluations (besides --miner).
	registered := make([]string, 0, len(neurons))
	for _, n := range neurons {
		registered = append(registered, n.Hotkey)
	}
	c.Coordinator.SetRegisteredMiners(registered)
	log.Info("metagraph", "netuid", c.Netuid, "neurons", len(neurons), "permitted", len(permitted), "registered", len(registered))
}

// Close stops the server gracefully, then the sweeper and the store.
func (c *CoordinatorCommand) Close() error {
	var err error
	if c.Server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = c.Server.Close(ctx)
		cancel()
	}
	if c.cancel != nil {
		c.cancel()
		<-c.done
	}
	if c.Dataset != nil {
		c.Dataset.Close()
	}
	if c.Store != nil {
		if e := c.Store.Close(); err == nil {
			err = e
		}
	}
	return err
}

// Run serves until ctx is cancelled (SIGINT or SIGTERM).
func (c *CoordinatorCommand) Run(ctx context.Context, args []string) error {
	if err := c.ParseFlags(args); err != nil {
		return err
	}
	if err := c.Open(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return c.Close()
}

func redactDSN(dsn string) string {
	if sqldb.IsPostgres(dsn) {
		if i := len("postgres://"); len(dsn) > i {
			return "postgres://…"
		}
	}
	return dsn
}
