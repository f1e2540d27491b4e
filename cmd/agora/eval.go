package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/demo"
	"github.com/agoranet/agora/envs"
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
}

const evalUsage = `Usage: agora eval --instances FILE --predictions FILE|gold|empty --run-id ID [flags]

Evaluates predictions on SWE-bench instances, each in its own sandbox, with
SWE-bench v5 semantics, and writes SWE-bench's reports: per instance
report.json and test_output.txt under
  REPORT-DIR/logs/run_evaluation/RUN-ID/MODEL/INSTANCE-ID/
and the run report REPORT-DIR/MODEL.RUN-ID.json. A rerun with the same run id
resumes: instances that already have a report.json are not run again.

Flags:
`

// Run parses flags and runs the evaluation.
func (c *EvalCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("agora-eval", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.StringVar(&c.Instances, "instances", "", "SWE-bench instances: a JSON list, a JSON object keyed by id, or JSONL")
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
	case c.Instances == "":
		return &usageError{msg: "eval: --instances is required"}
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

// evalItem is one instance to evaluate with its prediction.
type evalItem struct {
	inst  *swebench.Instance
	pred  swebench.Prediction
	env   *harness.Env
	dir   string
	model string
}

func (c *EvalCommand) run(ctx context.Context) error {
	level := slog.LevelWarn
	if c.Verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: level}))

	instances, itemErrs, err := swebench.LoadInstances(c.Instances)
	if err != nil {
		return err
	}
	for _, e := range itemErrs {
		fmt.Fprintf(c.Stderr, "agora: skipping %v\n", e)
	}
	if c.InstanceIDs != "" {
		want := map[string]bool{}
		for _, id := range strings.Split(c.InstanceIDs, ",") {
			want[strings.TrimSpace(id)] = true
		}
		var kept []swebench.Instance
		for _, in := range instances {
			if want[in.InstanceID] {
				kept = append(kept, in)
				delete(want, in.InstanceID)
			}
		}
		for id := range want {
			fmt.Fprintf(c.Stderr, "agora: --instance-ids: %s is not in %s\n", id, c.Instances)
		}
		instances = kept
	}
	if len(instances) == 0 {
		return agora.Errorf(agora.EINVALID, "eval: no usable instance in %s", c.Instances)
	}

	var preds []swebench.Prediction
	switch c.Predictions {
	case "gold":
		preds = swebench.GoldPredictions(instances)
	case "empty":
		preds = swebench.EmptyPredictions(instances)
	default:
		var perrs []swebench.ItemError
		preds, perrs, err = swebench.LoadPredictions(c.Predictions)
		if err != nil {
			return err
		}
		for _, e := range perrs {
			fmt.Fprintf(c.Stderr, "agora: skipping %v\n", e)
		}
	}
	matched, merrs, err := swebench.MatchPredictions(instances, preds)
	if err != nil {
		return err
	}
	for _, e := range merrs {
		fmt.Fprintf(c.Stderr, "agora: skipping %v\n", e)
	}

	var specs *harness.EnvFile
	if c.EnvSpecs == "" {
		specs, err = harness.ParseEnvFile("embedded swebench.yaml", envs.SWEbench)
	} else {
		specs, err = harness.LoadEnvFile(c.EnvSpecs)
	}
	if err != nil {
		return err
	}

	// Work out what to run before starting a sandbox, so bad input is
	// reported at once.
	var items []*evalItem
	model := ""
	for i := range instances {
		inst := &instances[i]
		pred, ok := matched[inst.InstanceID]
		if !ok {
			continue
		}
		if model == "" {
			model = pred.ModelNameOrPath
		}
		it := &evalItem{inst: inst, pred: pred, model: pred.ModelNameOrPath}
		it.dir = filepath.Join(c.ReportDir, swebench.InstanceLogDir(c.RunID, pred.ModelNameOrPath, inst.InstanceID))
		if pred.ModelPatch == nil || strings.TrimSpace(*pred.ModelPatch) == "" {
			continue // an empty patch is counted, not run
		}
		if _, err := os.Stat(filepath.Join(it.dir, "report.json")); err == nil {
			continue // resumed: done in an earlier run
		}
		env, err := specs.Find(inst.Repo, inst.Version)
		if err != nil {
			c.recordError(it, harness.ErrKindEnvironment, fmt.Errorf("%s: %s", inst.InstanceID, message(err)))
			continue
		}
		it.env = env
		items = append(items, it)
	}
	if model == "" {
		model = "none"
	}

	if len(items) > 0 {
		if err := c.evaluate(ctx, logger, items); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	outcomes := map[string]swebench.Outcome{}
	for _, inst := range instances {
		pred, ok := matched[inst.InstanceID]
		if !ok {
			continue
		}
		dir := filepath.Join(c.ReportDir, swebench.InstanceLogDir(c.RunID, pred.ModelNameOrPath, inst.InstanceID))
		o, err := swebench.ReadOutcome(filepath.Join(dir, "report.json"), inst.InstanceID)
		if err == nil {
			outcomes[inst.InstanceID] = o
		}
	}
	report := swebench.BuildRunReport(instances, matched, outcomes)
	path, err := swebench.WriteRunReport(c.ReportDir, model, c.RunID, report)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "%d instances: %d resolved, %d unresolved, %d empty patch, %d error; report %s\n",
		report.TotalInstances, report.ResolvedInstances, report.UnresolvedInstances,
		report.EmptyPatchInstances, report.ErrorInstances, path)
	return nil
}

// evaluate runs items on c.Workers workers, writing each instance's files
// as soon as it finishes.
func (c *EvalCommand) evaluate(ctx context.Context, logger *slog.Logger, items []*evalItem) error {
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
	}
	prog := newProgress(c.Stderr, len(items))
	work := make(chan *evalItem)
	var wg sync.WaitGroup
	for i := 0; i < c.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				res := ev.EvaluateSWE(ctx, it.inst, it.env, *it.pred.ModelPatch, harness.SWEOptions{MaxPatchBytes: c.MaxPatch, Timeout: c.Timeout, TamperPolicy: c.TamperPolicy})
				if ctx.Err() != nil {
					return // canceled: leave no half-written instance
				}
				c.record(it, res)
				prog.done(res)
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	prog.finish()
	return nil
}

// record writes an instance's files: patch.diff, test_output.txt, agora.json
// and, when there is a verdict, report.json — last, since its presence is
// what marks the instance completed.
func (c *EvalCommand) record(it *evalItem, res *harness.SWEResult) {
	if err := os.MkdirAll(it.dir, 0o755); err != nil {
		fmt.Fprintf(c.Stderr, "agora: %s: %v\n", it.inst.InstanceID, err)
		return
	}
	swebench.WriteFileAtomic(filepath.Join(it.dir, "patch.diff"), []byte(*it.pred.ModelPatch))
	if res.Log != nil {
		swebench.WriteFileAtomic(filepath.Join(it.dir, "test_output.txt"), res.Log)
	}
	c.writeDetail(it, res.ErrKind, res.Err, res)
	if res.Err != nil {
		fmt.Fprintf(c.Stderr, "agora: %s: %s\n", it.inst.InstanceID, firstLine(res.Err.Error()))
		return
	}
	data, err := res.Report.Encode(it.inst.InstanceID)
	if err == nil {
		err = swebench.WriteFileAtomic(filepath.Join(it.dir, "report.json"), data)
	}
	if err != nil {
		fmt.Fprintf(c.Stderr, "agora: %s: write report: %v\n", it.inst.InstanceID, err)
	}
}

// recordError records an instance that could not be evaluated at all.
func (c *EvalCommand) recordError(it *evalItem, kind string, err error) {
	if mkErr := os.MkdirAll(it.dir, 0o755); mkErr == nil {
		c.writeDetail(it, kind, err, nil)
	}
	fmt.Fprintf(c.Stderr, "agora: %s\n", firstLine(err.Error()))
}

// writeDetail writes agora.json: what SWE-bench's report.json has no field
// for (why an instance failed, what was ignored, how long steps took).
func (c *EvalCommand) writeDetail(it *evalItem, kind string, err error, res *harness.SWEResult) {
	d := map[string]any{"instance_id": it.inst.InstanceID, "model_name_or_path": it.model}
	if err != nil {
		d["error_kind"], d["error"] = kind, err.Error()
	}
	if res != nil {
		d["resolution"] = res.Resolution
		d["test_exit_code"] = res.TestExitCode
		d["ignored_test_edits"] = res.IgnoredTestEdits
		d["runner_guard"] = res.Guarded
		if len(res.TamperFindings) > 0 {
			d["tamper_findings"] = res.TamperFindings
		}
		d["timings_ms"] = map[string]int64{
			"checkout": res.Timings.Checkout.Milliseconds(), "environment": res.Timings.Environment.Milliseconds(),
			"prepare": res.Timings.Prepare.Milliseconds(), "test": res.Timings.Test.Milliseconds(),
			"total": res.Timings.Total.Milliseconds(),
		}
	}
	data, _ := json.MarshalIndent(d, "", "  ")
	swebench.WriteFileAtomic(filepath.Join(it.dir, "agora.json"), append(data, '\n'))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
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
