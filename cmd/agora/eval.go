package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/agoranet/agora/demo"
	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/repocache"
	"github.com/agoranet/agora/sandbox"
	"github.com/agoranet/agora/swebench"
)

// EvalCommand is `agora eval`: SWE-bench instances and predictions in, one
// sandboxed evaluation per instance, SWE-bench's reports out.
type EvalCommand struct {
	Stdout, Stderr io.Writer

	Instances   string
	Dataset     string
	Split       string
	Predictions string
	RepoSource  string
	EnvSpecs    string
	Workers     int
	RunID       string
	ReportDir   string
	CacheDir    string
	StateDir    string
	Runtime     string
	Timeout     time.Duration
	InstanceIDs string
	MaxPatch    int
	Verbose     bool
	Demo        bool
	// NoGuard turns the runner guard off (hidden flag, for bench/guard.sh).
	NoGuard bool
	// TamperPolicy is harness.SWEOptions.TamperPolicy.
	TamperPolicy string
	// Image is the image template every instance is graded in
	// (harness.Evaluator.ImageTemplate); Insecure are registries reached
	// over plain http.
	Image    string
	Insecure []string
}

const evalUsage = `Usage: agora eval --instances FILE|--dataset NAME --predictions FILE|gold|empty --run-id ID [flags]

Evaluates predictions on SWE-bench instances, each in its own sandbox, with
SWE-bench v5 semantics, and writes SWE-bench's log tree and reports: per
instance run_instance.log, patch.diff, eval.sh, test_output.txt and
report.json under
  REPORT-DIR/logs/run_evaluation/RUN-ID/MODEL/INSTANCE-ID/
run.json beside the model directories, and the run report
REPORT-DIR/MODEL.RUN-ID.json. A rerun with the same run id
resumes: instances that already have a report.json are not run again.

The instances come from a file (--instances: JSON, JSONL, or Parquet as
the Hugging Face datasets ship it) or from a dataset split in the local
Hugging Face cache (--dataset princeton-nlp/SWE-bench_Verified --split
test, after huggingface-cli download --repo-type dataset NAME).

Flags:
`

// Run parses flags and runs the evaluation.
func (c *EvalCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("agora-eval", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.StringVar(&c.Instances, "instances", "", "SWE-bench instances: a JSON list, a JSON object keyed by id, JSONL, or Parquet")
	fs.StringVar(&c.Dataset, "dataset", "", "instead of --instances, a Hugging Face dataset in the local cache, e.g. princeton-nlp/SWE-bench_Verified")
	fs.StringVar(&c.Split, "split", swebench.DefaultSplit, "the --dataset split")
	fs.StringVar(&c.Predictions, "predictions", "", "predictions file (JSON list, JSON object, JSONL), or 'gold' or 'empty'")
	fs.StringVar(&c.RepoSource, "repo-source", repocache.DefaultSource, "where repositories come from: a URL or local path template with {owner} {name} {repo}")
	fs.StringVar(&c.EnvSpecs, "env-specs", "", "environment spec file (default: the embedded SWE-bench specs)")
	fs.IntVar(&c.Workers, "workers", 2, "instances evaluated at once")
	fs.StringVar(&c.RunID, "run-id", "", "name of this run; reusing it resumes the run")
	fs.StringVar(&c.ReportDir, "report-dir", ".", "directory for reports and logs")
	fs.StringVar(&c.CacheDir, "cache-dir", defaultCacheDir(), "cache of checkouts and environment layers")
	fs.StringVar(&c.StateDir, "state-dir", sandbox.DefaultStateDir, "sandbox state (bundles, workspaces)")
	fs.StringVar(&c.Runtime, "runtime", sandbox.RuntimeRunc, "OCI runtime: runc or runsc (gVisor)")
	fs.DurationVar(&c.Timeout, "timeout", 0, "test command timeout per instance (default: the environment's, 30m)")
	fs.StringVar(&c.InstanceIDs, "instance-ids", "", "comma-separated ids to evaluate (default: all)")
	fs.IntVar(&c.MaxPatch, "max-patch-bytes", 0, "largest model patch accepted (default 256 KiB)")
	fs.BoolVar(&c.Verbose, "v", false, "log every step")
	fs.StringVar(&c.Image, "image", "", "grade each instance in this OCI image: a reference or template with {instance_id}, {instance_id_docker} or {image} (the dataset's column), e.g. docker.io/swebench/sweb.eval.x86_64.{instance_id_docker}:latest")
	fs.Func("insecure-registry", "registry host:port reached over plain http (repeatable)", func(v string) error {
		c.Insecure = append(c.Insecure, v)
		return nil
	})
	fs.StringVar(&c.TamperPolicy, "tamper-policy", "reject", "what a static-scan finding of runner tampering does: reject, or off (only recorded in agora.json)")
	// Hidden from the usage text on purpose: only bench/guard.sh uses it,
	// to measure what the guard costs.
	noGuard := fs.Bool("no-guard", false, "")
	fs.BoolVar(&c.Demo, "demo", false, "evaluate the bundled demo task with three models (gold, wrong, conftest hack); needs no network")
	fs.Usage = func() {
		fmt.Fprint(c.Stderr, evalUsage)
		var b strings.Builder
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(c.Stderr)
		// PrintDefaults writes "  -name" then an indented usage line.
		fmt.Fprint(c.Stderr, strings.Replace(b.String(), "  -no-guard\n    \t\n", "", 1))
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.NoGuard = c.NoGuard || *noGuard
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("eval: unexpected argument %q", fs.Arg(0))}
	}
	if c.Demo {
		return c.runDemo(ctx)
	}
	if err := c.Validate(); err != nil {
		return err
	}
	return c.run(ctx)
}

// runDemo evaluates the bundled demo task once per demo model.
func (c *EvalCommand) runDemo(ctx context.Context) error {
	dir := filepath.Join(c.CacheDir, "demo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src, err := demo.Install(ctx, dir)
	if err != nil {
		return err
	}
	if c.ReportDir == "." {
		c.ReportDir = "agora-demo"
	}
	c.Instances, c.RepoSource, c.EnvSpecs = filepath.Join(dir, "instances.jsonl"), src, filepath.Join(dir, "envs.yaml")
	if c.RunID == "" {
		c.RunID = "demo"
	}
	fmt.Fprintf(c.Stdout, "Agora demo: one task (a bug in a tiny Python package), three models, each patch replayed in a sandbox.\n")
	for _, m := range demo.Models {
		c.Predictions = filepath.Join(dir, m+".jsonl")
		fmt.Fprintf(c.Stdout, "\n== model %s\n", m)
		if err := c.run(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.Stdout, "\nReports and logs are in %s. Next: agora eval --instances FILE --predictions gold --repo-source TPL --run-id ID\n", c.ReportDir)
	return nil
}

// Validate checks the flags, naming the first one that is wrong.
func (c *EvalCommand) Validate() error {
	switch {
	case c.Instances == "" && c.Dataset == "":
		return &usageError{msg: "eval: --instances or --dataset is required"}
	case c.Instances != "" && c.Dataset != "":
		return &usageError{msg: "eval: --instances and --dataset both name the instances: give one"}
	case c.Predictions == "":
		return &usageError{msg: "eval: --predictions is required (a file, gold or empty)"}
	case c.RunID == "":
		return &usageError{msg: "eval: --run-id is required"}
	case c.Workers < 1:
		return &usageError{msg: "eval: --workers must be at least 1"}
	case c.TamperPolicy != "" && c.TamperPolicy != "reject" && c.TamperPolicy != harness.TamperPolicyOff:
		return &usageError{msg: "eval: --tamper-policy must be reject or off"}
	}
	if err := swebench.CheckRunID(c.RunID); err != nil {
		return &usageError{msg: "eval: --run-id: " + message(err)}
	}
	return nil
}

func defaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "agora")
	}
	return filepath.Join(os.TempDir(), "agora-cache")
}

// run evaluates once: flags to a harness.Batch, a sandbox when there is
// anything to run, progress and the summary line.
func (c *EvalCommand) run(ctx context.Context) error {
	level := slog.LevelWarn
	if c.Verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: level}))

	var ids []string
	if c.InstanceIDs != "" {
		ids = strings.Split(c.InstanceIDs, ",")
	}
	src := cmp.Or(c.Dataset, c.Instances)
	b := &harness.Batch{
		Instances: c.Instances, Dataset: c.Dataset, Split: c.Split, Predictions: c.Predictions, InstanceIDs: ids, EnvSpecs: c.EnvSpecs,
		ReportDir: c.ReportDir, RunID: c.RunID, Workers: c.Workers,
		Options:   harness.SWEOptions{MaxPatchBytes: c.MaxPatch, Timeout: c.Timeout, TamperPolicy: c.TamperPolicy},
		Image:     c.Image,
		Warn:      func(msg string) { fmt.Fprintf(c.Stderr, "agora: %s\n", msg) },
		MissingID: func(id string) { fmt.Fprintf(c.Stderr, "agora: --instance-ids: %s is not in %s\n", id, src) },
	}
	plan, err := b.Plan()
	if err != nil {
		return err
	}
	if plan.Pending() > 0 {
		if err := c.evaluate(ctx, logger, b, plan); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	report, path, err := b.Report(plan)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "%d instances: %d resolved, %d unresolved, %d empty patch, %d error; report %s\n",
		report.TotalInstances, report.ResolvedInstances, report.UnresolvedInstances,
		report.EmptyPatchInstances, report.ErrorInstances, path)
	return nil
}

// evaluate starts the sandbox and runs the plan's pending instances,
// drawing progress.
func (c *EvalCommand) evaluate(ctx context.Context, logger *slog.Logger, b *harness.Batch, plan *harness.BatchPlan) error {
	sb, err := sandbox.New(sandbox.Config{Runtime: c.Runtime, StateDir: c.StateDir, Logger: logger, PoolSize: sandbox.DefaultPoolSize})
	if err != nil {
		return err
	}
	defer sb.Close()
	ev := &harness.Evaluator{
		Sandbox:     sb,
		Checkouts:   &repocache.Cache{Dir: filepath.Join(c.CacheDir, "repos"), Source: c.RepoSource, UID: sandbox.DefaultUID, GID: sandbox.DefaultGID, Logger: logger},
		CacheDir:    c.CacheDir,
		RuntimeKind: sb.Kind(),
		NoGuard:     c.NoGuard,
		Logger:      logger,
		// Images serve --image and env specs with an image field.
		Images:        harness.OCIImages{Store: newImageStore(c.CacheDir, "", c.Insecure, c.Stderr)},
		ImageTemplate: c.Image,
	}
	prog := newProgress(c.Stderr, plan.Pending())
	b.Done = prog.done
	b.Evaluate(ctx, ev, plan)
	prog.finish()
	return nil
}

// progress draws a one-line progress bar when stderr is a terminal.
type progress struct {
	mu                         sync.Mutex
	w                          io.Writer
	tty                        bool
	total, n, resolved, errors int
	start                      time.Time
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, start: time.Now()}
	if f, ok := w.(*os.File); ok && os.Getenv("CI") == "" {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	p.draw()
	return p
}

func (p *progress) done(res *harness.SWEResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if res.Err != nil {
		p.errors++
	} else if res.Resolved() {
		p.resolved++
	}
	p.draw()
}

func (p *progress) draw() {
	if !p.tty {
		return
	}
	const width = 30
	filled := width * p.n / max(p.total, 1)
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d  resolved %d  error %d  %s ",
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), p.n, p.total, p.resolved, p.errors,
		time.Since(p.start).Round(time.Second))
}

func (p *progress) finish() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
