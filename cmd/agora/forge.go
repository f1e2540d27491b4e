package main

import (
	"net"
	"net/http"
	"net/url"
	"strconv"

	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/forge"
	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/internal/gitexec"
	"github.com/agoranet/agora/repocache"
	"github.com/agoranet/agora/sandbox"
	"github.com/agoranet/agora/swebench"
)

// ForgeCommand is `agora forge`: task supply.
type ForgeCommand struct {
	Stdout, Stderr io.Writer
}

const forgeUsage = `Usage: agora forge COMMAND [flags]

Commands:
  mine    mine a repository's history for SWE-bench-style tasks, each proved
          by execution (its tests fail before the fix and pass after)
  synth   synthesize bug tasks by mutating functions that passing tests
          cover, each proved by execution (SWE-smith style)
  serve   keep a pool of validated tasks per competition and publish them to
          a coordinator as hidden, fresh tasks on a cadence

Run "agora forge COMMAND -h" for a command's flags.
`

// Run dispatches to a forge subcommand.
func (c *ForgeCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(c.Stderr, forgeUsage)
		if len(args) == 0 {
			return agora.Errorf(agora.EINVALID, "forge: a command is required")
		}
		return nil
	}
	switch args[0] {
	case "mine":
		return (&ForgeMineCommand{Stdout: c.Stdout, Stderr: c.Stderr}).Run(ctx, args[1:])
	case "synth":
		return (&ForgeSynthCommand{Stdout: c.Stdout, Stderr: c.Stderr}).Run(ctx, args[1:])
	case "serve":
		return (&ForgeServeCommand{Stdout: c.Stdout, Stderr: c.Stderr}).Run(ctx, args[1:])
	}
	fmt.Fprint(c.Stderr, forgeUsage)
	return agora.Errorf(agora.EINVALID, "forge: unknown command %q", args[0])
}

// forgeSandbox are the flags every forge command that validates shares:
// where environments, checkouts and the sandbox live.
type forgeSandbox struct {
	EnvSpecs, CacheDir, StateDir, Runtime string
	Runs                                  int
	MaxTestTime                           time.Duration
}

func (f *forgeSandbox) flags(fs *flag.FlagSet) {
	fs.StringVar(&f.EnvSpecs, "env-specs", "", "environment spec file (default: the embedded SWE-bench specs, as agora eval)")
	fs.StringVar(&f.CacheDir, "cache-dir", defaultCacheDir(), "cache of checkouts and environment layers")
	fs.StringVar(&f.StateDir, "state-dir", sandbox.DefaultStateDir, "sandbox state (bundles, workspaces)")
	fs.StringVar(&f.Runtime, "runtime", sandbox.RuntimeRunc, "OCI runtime: runc or runsc (gVisor)")
	fs.IntVar(&f.Runs, "runs", 3, "test runs on each side of the fix; tests whose outcome changes between runs are dropped as flaky")
	fs.DurationVar(&f.MaxTestTime, "max-test-time", 10*time.Minute, "longest test run a task may take")
}

// validator starts a sandbox and returns a validator reading repositories
// from source (a path or URL template, as agora eval's --repo-source), and
// a function that stops the sandbox.
func (f *forgeSandbox) validator(logger *slog.Logger, source string) (*forge.Validator, func(), error) {
	if f.Runs < 1 || f.Runs > 10 {
		return nil, nil, agora.Errorf(agora.EINVALID, "--runs: 1 to 10")
	}
	var paths []string
	if f.EnvSpecs != "" {
		paths = []string{f.EnvSpecs}
	}
	envs, err := harness.LoadEnvSpecs(paths)
	if err != nil {
		return nil, nil, err
	}
	sb, err := sandbox.New(sandbox.Config{Runtime: f.Runtime, StateDir: f.StateDir, Logger: logger, PoolSize: sandbox.DefaultPoolSize})
	if err != nil {
		return nil, nil, err
	}
	ev := &harness.Evaluator{
		Sandbox:     sb,
		Checkouts:   &repocache.Cache{Dir: filepath.Join(f.CacheDir, "repos"), Source: source, UID: sandbox.DefaultUID, GID: sandbox.DefaultGID, Logger: logger},
		CacheDir:    f.CacheDir,
		RuntimeKind: sb.Kind(),
		Logger:      logger,
	}
	return &forge.Validator{Evaluator: ev, Envs: envs, Runs: f.Runs, MaxTestTime: f.MaxTestTime}, func() { sb.Close() }, nil
}

// ForgeMineCommand is `agora forge mine`.
type ForgeMineCommand struct {
	Stdout, Stderr io.Writer
	forgeSandbox

	Repo, Name, Ref, Out, Version string
	Since, Until                  string
	Limit                         int
	Known                         listFlag
	GitHubURL, GitHubTokenEnv     string
	MaxFiles, MaxLines            int
	Stats                         string
	Verbose                       bool
}

const forgeMineUsage = `Usage: agora forge mine --repo DIR --out tasks.jsonl [flags]

Mines DIR's history (a git repository, bare or not) for SWE-bench-style
tasks: a commit, or a merged pull request, that changes test files and
other files. The base is its parent, the gold patch its non-test diff and
the test patch its test diff. Each candidate is validated in the sandbox
with the environments agora eval uses: FAIL_TO_PASS are the tests that fail
before the fix and pass after, PASS_TO_PASS those that pass both times,
over --runs runs each, flaky tests dropped; a task needs one FAIL_TO_PASS
test. Tasks are appended to --out as SWE-bench instance JSONL, each with
its provenance and difficulty features under "forge"; ids already in --out
are not mined again, so a cut-off run resumes.

Flags:
`

// Run parses flags and mines.
func (c *ForgeMineCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("agora-forge-mine", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() { fmt.Fprint(c.Stderr, forgeMineUsage); fs.PrintDefaults() }
	fs.StringVar(&c.Repo, "repo", "", "git repository to mine (a local path)")
	fs.StringVar(&c.Name, "name", "", "its name, owner/name (default: from an owner+name/repo path or the origin remote)")
	fs.StringVar(&c.Ref, "ref", "HEAD", "history to walk (first-parent line)")
	fs.StringVar(&c.Out, "out", "", "tasks file (JSONL), appended to")
	fs.StringVar(&c.Since, "since", "", "oldest commit date to consider (YYYY-MM-DD or RFC 3339)")
	fs.StringVar(&c.Until, "until", "", "newest commit date to consider (YYYY-MM-DD or RFC 3339)")
	fs.IntVar(&c.Limit, "limit", 0, "stop after this many tasks (0: no limit)")
	fs.StringVar(&c.Version, "version", "", "the tasks' version (default: the base's release line from its nearest tag)")
	fs.Var(&c.Known, "known", "instances not to make again, e.g. SWE-bench's (JSONL/JSON; repeatable): same repository and base commit, or same gold patch")
	fs.StringVar(&c.GitHubURL, "github-url", "", "GitHub API root for issue and pull request text (e.g. https://api.github.com); default: none, the commit message")
	fs.StringVar(&c.GitHubTokenEnv, "github-token-env", "GITHUB_TOKEN", "environment variable holding the GitHub token")
	fs.IntVar(&c.MaxFiles, "max-files", forge.DefaultBounds.MaxFiles, "most files a gold patch may touch")
	fs.IntVar(&c.MaxLines, "max-lines", forge.DefaultBounds.MaxLines, "most lines a gold patch may change")
	fs.StringVar(&c.Stats, "stats", "", "write the run's statistics here as JSON")
	fs.BoolVar(&c.Verbose, "v", false, "log every step")
	c.forgeSandbox.flags(fs)
	if help, err := parseForgeFlags(fs, args, "forge mine"); help || err != nil {
		return err
	}
	opt, err := c.options(ctx)
	if err != nil {
		return err
	}
	v, out, stop, err := c.start(c.Stderr, c.Verbose, opt.Dir, c.Out, opt.Known)
	if err != nil {
		return err
	}
	defer stop()
	opt.Validator = v
	opt.Progress = progressPrinter(c.Stderr, c.Verbose, func(o forge.Outcome) string { return fmt.Sprintf("%.12s", o.Commit) })
	st, err := forge.Mine(ctx, *opt, out.Append)
	if st != nil {
		fmt.Fprintf(c.Stdout, "%d commits, %d candidates: %d tasks kept, %d rejected by validation, %d duplicates (yield %.0f%%); tasks in %s\n",
			st.Commits, st.Candidates, st.Kept, st.Rejected, st.Duplicates, 100*st.Yield(), c.Out)
		if len(st.Reasons) > 0 {
			fmt.Fprintf(c.Stdout, "not kept: %s\n", strings.Join(st.SortedReasons(), ", "))
		}
		if c.Stats != "" {
			if werr := writeJSONFile(c.Stats, st); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return err
}

// options checks the flags and builds the mining options (without the
// validator).
func (c *ForgeMineCommand) options(ctx context.Context) (*forge.MineOptions, error) {
	if c.Repo == "" {
		return nil, agora.Errorf(agora.EINVALID, "forge mine: --repo is required")
	}
	if c.Out == "" {
		return nil, agora.Errorf(agora.EINVALID, "forge mine: --out is required")
	}
	st, err := os.Stat(c.Repo)
	if err != nil || !st.IsDir() {
		return nil, agora.Errorf(agora.EINVALID, "forge mine: --repo %s: not a directory", c.Repo)
	}
	dir, err := filepath.Abs(c.Repo)
	if err != nil {
		return nil, agora.Errorf(agora.EINVALID, "forge mine: --repo: %v", err)
	}
	name := c.Name
	if name == "" {
		name = repoName(ctx, dir)
	}
	if !repoNameRe.MatchString(name) {
		return nil, agora.Errorf(agora.EINVALID, "forge mine: --name: %q is not owner/name (cannot tell it from %s)", name, c.Repo)
	}
	opt := &forge.MineOptions{Repo: name, Dir: dir, Limit: c.Limit, Version: c.Version, Known: forge.NewKnown(),
		List: forge.ListOptions{Ref: c.Ref, Bounds: forge.Bounds{MaxFiles: c.MaxFiles, MaxLines: c.MaxLines}}}
	if c.Limit < 0 {
		return nil, agora.Errorf(agora.EINVALID, "forge mine: --limit must not be negative")
	}
	if opt.List.Since, err = parseDay("--since", c.Since); err != nil {
		return nil, err
	}
	if opt.List.Until, err = parseDay("--until", c.Until); err != nil {
		return nil, err
	}
	if err := loadKnown("forge mine", c.Known, opt.Known); err != nil {
		return nil, err
	}
	if c.GitHubURL != "" {
		opt.Host = &forge.GitHub{BaseURL: c.GitHubURL, Token: os.Getenv(c.GitHubTokenEnv)}
	}
	return opt, nil
}

// parseForgeFlags parses a forge command's flags; help is true when -h
// was asked for (and the usage printed).
func parseForgeFlags(fs *flag.FlagSet, args []string, cmd string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, agora.Errorf(agora.EINVALID, "%s: %v", cmd, err)
	}
	if fs.NArg() > 0 {
		return false, agora.Errorf(agora.EINVALID, "%s: unexpected argument %q", cmd, fs.Arg(0))
	}
	return false, nil
}

// loadKnown adds the instances in files (--known) to known.
func loadKnown(cmd string, files []string, known *forge.Known) error {
	for _, k := range files {
		insts, errs, err := swebench.LoadInstances(k)
		if err != nil {
			return agora.Errorf(agora.EINVALID, "%s: --known %s: %v", cmd, k, err)
		}
		if len(errs) > 0 {
			return agora.Errorf(agora.EINVALID, "%s: --known %s: %v", cmd, k, errs[0])
		}
		known.Add(insts...)
	}
	return nil
}

// forgeLogger logs warnings, or every step when verbose.
func forgeLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

var repoNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// repoName tells a repository's owner/name from a mirror path
// (.../owner+name/repo) or its origin remote's URL; "" when neither does.
func repoName(ctx context.Context, dir string) string {
	if filepath.Base(dir) == "repo" {
		if o, n, ok := strings.Cut(filepath.Base(filepath.Dir(dir)), "+"); ok {
			return o + "/" + n
		}
	}
	u, err := gitexec.Run(ctx, dir, "config", "--get", "remote.origin.url")
	if err != nil {
		return ""
	}
	u = strings.TrimSuffix(strings.TrimSpace(u), ".git")
	parts := strings.FieldsFunc(u, func(r rune) bool { return r == '/' || r == ':' })
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}

func parseDay(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, agora.Errorf(agora.EINVALID, "forge mine: %s %q: want YYYY-MM-DD or RFC 3339", flagName, s)
}

// writeJSONFile writes v as indented JSON, atomically.
func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return swebench.WriteFileAtomic(path, append(data, '\n'))
}

// ForgeServeCommand is `agora forge serve`: the task pool, kept full and
// published to a coordinator on a cadence.
type ForgeServeCommand struct {
	Stdout, Stderr io.Writer
	forgeSandbox
	keys keyFlags

	Pool, Coordinator, Listen string
	Feeds, Known              listFlag
	MinPool, Quorum           int
	PublishEvery, RefillEvery time.Duration
	MaxAttempts               int
	Since                     string
}

const forgeServeUsage = `Usage: agora forge serve --feed COMPETITION=REPO [--feed ...] --coordinator URL --key-uri //Owner [flags]

Keeps a pool of validated tasks for each competition (a SQLite file, --pool)
at or above --min-pool, mining each competition's repository in the
background (as agora forge mine does), and every --publish-every hands the
oldest ready task to the coordinator as a hidden, fresh task in that
competition: an atomic reservation, then the import, then an
acknowledgement; a failed import is retried, and a task that fails
--max-attempts times is set aside as dead. The coordinator's --repo-source
must resolve the repositories (e.g. the same mirrors). Metrics and health:
http://LISTEN/metrics and /healthz.

Flags:
`

// Run parses flags and serves until ctx ends.
func (c *ForgeServeCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("agora-forge-serve", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() { fmt.Fprint(c.Stderr, forgeServeUsage); fs.PrintDefaults() }
	fs.Var(&c.Feeds, "feed", "COMPETITION=REPO: a competition and the git repository (local path) its tasks are mined from (repeatable)")
	fs.StringVar(&c.Pool, "pool", "forge-pool.db", "the pool's SQLite file")
	fs.IntVar(&c.MinPool, "min-pool", 5, "ready tasks to keep per competition")
	fs.DurationVar(&c.PublishEvery, "publish-every", time.Hour, "how often each competition gets a fresh task (0: never publish)")
	fs.DurationVar(&c.RefillEvery, "refill-every", 30*time.Second, "how often pools are checked")
	fs.IntVar(&c.MaxAttempts, "max-attempts", 3, "publication attempts before a task is dead")
	fs.StringVar(&c.Coordinator, "coordinator", "", "coordinator URL to publish to")
	fs.IntVar(&c.Quorum, "quorum", 0, "validators per submission on published tasks (0: the coordinator's default)")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:9464", "address for /metrics and /healthz (empty: none)")
	fs.StringVar(&c.Since, "since", "", "oldest commit date to mine (YYYY-MM-DD or RFC 3339)")
	fs.Var(&c.Known, "known", "instances not to make again (JSONL/JSON; repeatable)")
	c.forgeSandbox.flags(fs)
	c.keys.register(fs, "AGORA_FORGE_")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return agora.Errorf(agora.EINVALID, "forge serve: %v", err)
	}
	if len(c.Feeds) == 0 {
		return agora.Errorf(agora.EINVALID, "forge serve: give at least one --feed COMPETITION=REPO")
	}
	if c.MinPool < 1 {
		return agora.Errorf(agora.EINVALID, "forge serve: --min-pool must be at least 1")
	}
	if c.MaxAttempts < 1 {
		return agora.Errorf(agora.EINVALID, "forge serve: --max-attempts must be at least 1")
	}
	var publish func(context.Context, string, *swebench.Instance) error
	if c.PublishEvery > 0 {
		if c.Coordinator == "" {
			return agora.Errorf(agora.EINVALID, "forge serve: --coordinator is required to publish (or --publish-every 0)")
		}
		signer, err := c.keys.load()
		if err != nil {
			return agora.Errorf(agora.EINVALID, "forge serve: %s", message(err))
		}
		client := agorahttp.NewClient(c.Coordinator, signer)
		publish = func(ctx context.Context, comp string, in *swebench.Instance) error {
			line, err := in.MarshalJSON()
			if err != nil {
				return err
			}
			q := url.Values{"visibility": {agora.VisibilityHidden}, "competition": {comp}}
			if c.Quorum > 0 {
				q.Set("quorum", strconv.Itoa(c.Quorum))
			}
			_, err = client.ImportTasks(ctx, append(line, '\n'), q)
			return err
		}
	}
	since, err := parseDay("--since", c.Since)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(c.Stderr, nil))
	pool, err := forge.OpenPool(ctx, c.Pool)
	if err != nil {
		return agora.Errorf(agora.EINVALID, "forge serve: %v", err)
	}
	defer pool.Close()
	pool.MaxAttempts = c.MaxAttempts
	reg := prometheus.NewRegistry()
	metrics := forge.NewMetrics(reg)
	srv := &forge.Server{Pool: pool, Publish: publish, PublishEvery: c.PublishEvery, RefillEvery: c.RefillEvery, Logger: logger, Metrics: metrics}
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	for _, feed := range c.Feeds {
		comp, dir, ok := strings.Cut(feed, "=")
		if !ok || comp == "" || dir == "" {
			return agora.Errorf(agora.EINVALID, "forge serve: --feed %q: want COMPETITION=REPO", feed)
		}
		mine := &ForgeMineCommand{Repo: dir, Out: "-", Known: c.Known}
		opt, err := mine.options(ctx)
		if err != nil {
			return err
		}
		opt.List.Since = since
		existing, err := pool.Instances(ctx, comp)
		if err != nil {
			return err
		}
		for i := range existing {
			opt.Known.Add(existing[i])
		}
		v, stop, err := c.validator(logger, opt.Dir)
		if err != nil {
			return err
		}
		stops = append(stops, stop)
		opt.Validator = v
		srv.Competitions = append(srv.Competitions, forge.Competition{Name: comp, MinPool: c.MinPool,
			Producer: &forge.MineProducer{Options: *opt, Observe: func(o forge.Outcome) { metrics.Observe(comp, o) }}})
	}
	if c.Listen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
		ln, err := net.Listen("tcp", c.Listen)
		if err != nil {
			return agora.Errorf(agora.EINVALID, "forge serve: --listen: %v", err)
		}
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln)
		defer hs.Close()
		logger.Info("forge serving", "metrics", "http://"+ln.Addr().String()+"/metrics", "competitions", len(srv.Competitions))
	}
	err = srv.Run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// start starts the sandbox a forge command validates in, reading
// repositories from source, and opens its tasks file (whose tasks join
// known). stop stops both.
func (f *forgeSandbox) start(stderr io.Writer, verbose bool, source, outPath string, known *forge.Known) (*forge.Validator, *forge.TasksFile, func(), error) {
	v, stopSandbox, err := f.validator(forgeLogger(stderr, verbose), source)
	if err != nil {
		return nil, nil, nil, err
	}
	out, err := forge.OpenTasksFile(outPath, known)
	if err != nil {
		stopSandbox()
		return nil, nil, nil, err
	}
	return v, out, func() { out.Close(); stopSandbox() }, nil
}

// progressPrinter reports each candidate kept, and those skipped after
// validation (every one with verbose), naming it with name.
func progressPrinter(w io.Writer, verbose bool, name func(forge.Outcome) string) func(forge.Outcome) {
	return func(o forge.Outcome) {
		switch {
		case o.Kept != "":
			fmt.Fprintf(w, "forge: %s kept as %s (validated in %s)\n", name(o), o.Kept, o.Validation.Round(time.Second))
		case verbose || o.Validation > 0:
			fmt.Fprintf(w, "forge: %s skipped: %s\n", name(o), o.Reason)
		}
	}
}
