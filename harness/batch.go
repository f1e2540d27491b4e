package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/grading"
	"github.com/agoranet/agora/patch"
	"github.com/agoranet/agora/swebench"
)

// Batch evaluates SWE-bench predictions on instances, each in its own
// sandbox, with SWE-bench v5 semantics, and writes SWE-bench's log tree and
// reports: per instance run_instance.log, patch.diff, eval.sh,
// test_output.txt and report.json (plus Agora's agora.json) under
// ReportDir/logs/run_evaluation/RunID/MODEL/INSTANCE-ID/, the run's run.json
// under ReportDir/logs/run_evaluation/RunID/, and the run report
// ReportDir/MODEL.RunID.json. A rerun with the same run id resumes:
// instances that already have a report.json are not run again.
//
// Set the fields, then Plan, Evaluate (when the plan has pending
// instances) and Report.
type Batch struct {
	// Instances is the instances file: a JSON list, a JSON object keyed
	// by id, JSONL, or Parquet.
	Instances string
	// Dataset, when set instead of Instances, names a Hugging Face
	// dataset read from the local cache (swebench.LoadDataset), and Split
	// its split ("" is swebench.DefaultSplit).
	Dataset, Split string
	// Predictions is the predictions file, or "gold" or "empty".
	Predictions string
	// InstanceIDs, when not empty, are the only instances evaluated.
	InstanceIDs []string
	// EnvSpecs is the environment spec file that resolves each
	// instance's environment; "" means the embedded SWE-bench specs
	// (envs.SWEbench).
	EnvSpecs string
	// ReportDir and RunID place the reports.
	ReportDir, RunID string
	// Workers is how many instances are evaluated at once.
	Workers int
	// Options tune every evaluation.
	Options SWEOptions
	// Image is the image template every instance is graded in (the
	// evaluator's ImageTemplate): an instance without an environment
	// spec is then graded with its eval_script alone.
	Image string

	// Warn receives one line for every item skipped and every instance
	// that could not be evaluated.
	Warn func(msg string)
	// MissingID is called for each of InstanceIDs that the instances file
	// does not hold.
	MissingID func(id string)
	// Done is called as each instance finishes, from the workers.
	Done func(*SWEResult)
	// Now is the clock of run.json and of the log of an instance that
	// could not be evaluated (default time.Now).
	Now func() time.Time
}

func (b *Batch) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// BatchPlan is what a Batch evaluates: every matched instance, and the
// ones still to run.
type BatchPlan struct {
	// Model is the first prediction's model, "none" when there is none.
	Model     string
	instances []swebench.Instance
	matched   map[string]swebench.Prediction
	items     []*batchItem
}

// Pending is the number of instances Evaluate will run.
func (p *BatchPlan) Pending() int { return len(p.items) }

// batchItem is one instance to evaluate with its prediction.
type batchItem struct {
	inst  *swebench.Instance
	pred  swebench.Prediction
	env   *Env
	dir   string
	model string
}

func (b *Batch) warn(format string, args ...any) {
	if b.Warn != nil {
		b.Warn(fmt.Sprintf(format, args...))
	}
}

// Plan reads the instances and the predictions and works out what to run,
// before any sandbox starts, so bad input is reported at once. Instances
// with an empty patch are counted, not run; those with a report.json are
// done; those with no environment are recorded as errors here.
func (b *Batch) Plan() (*BatchPlan, error) {
	instances, itemErrs, err := b.loadInstances()
	if err != nil {
		return nil, err
	}
	for _, e := range itemErrs {
		b.warn("skipping %v", e)
	}
	if len(b.InstanceIDs) > 0 {
		want := map[string]bool{}
		for _, id := range b.InstanceIDs {
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
			if b.MissingID != nil {
				b.MissingID(id)
			}
		}
		instances = kept
	}
	if len(instances) == 0 {
		return nil, agora.Errorf(agora.EINVALID, "eval: no usable instance in %s", b.source())
	}

	var preds []swebench.Prediction
	switch b.Predictions {
	case "gold":
		preds = swebench.GoldPredictions(instances)
	case "empty":
		preds = swebench.EmptyPredictions(instances)
	default:
		var perrs []swebench.ItemError
		preds, perrs, err = swebench.LoadPredictions(b.Predictions)
		if err != nil {
			return nil, err
		}
		for _, e := range perrs {
			b.warn("skipping %v", e)
		}
	}
	matched, merrs, err := swebench.MatchPredictions(instances, preds)
	if err != nil {
		return nil, err
	}
	for _, e := range merrs {
		b.warn("skipping %v", e)
	}

	var paths []string
	if b.EnvSpecs != "" {
		paths = []string{b.EnvSpecs}
	}
	specs, err := LoadEnvSpecs(paths)
	if err != nil {
		return nil, err
	}

	p := &BatchPlan{instances: instances, matched: matched}
	for i := range instances {
		inst := &instances[i]
		pred, ok := matched[inst.InstanceID]
		if !ok {
			continue
		}
		if p.Model == "" {
			p.Model = pred.ModelNameOrPath
		}
		it := &batchItem{inst: inst, pred: pred, model: pred.ModelNameOrPath}
		it.dir = filepath.Join(b.ReportDir, swebench.InstanceLogDir(b.RunID, pred.ModelNameOrPath, inst.InstanceID))
		if pred.ModelPatch == nil || strings.TrimSpace(*pred.ModelPatch) == "" {
			continue // an empty patch is counted, not run
		}
		if _, err := os.Stat(filepath.Join(it.dir, "report.json")); err == nil {
			continue // resumed: done in an earlier run
		}
		env, err := specs.Find(inst.Repo, inst.Version)
		if err != nil && (b.Image == "" || strings.TrimSpace(inst.EvalScript) == "") {
			b.recordError(it, ErrKindEnvironment, fmt.Errorf("%s: %s", inst.InstanceID, userMessage(err)))
			continue
		}
		it.env = env
		p.items = append(p.items, it)
	}
	if p.Model == "" {
		p.Model = "none"
	}
	// What the run graded against, as SWE-bench records it at the start of
	// every run: the instances file is the dataset.
	meta := swebench.NewRunMetadata(b.Instances, b.now())
	if b.Dataset != "" {
		meta.Dataset, meta.Split = b.Dataset, b.split()
	}
	if _, err := swebench.WriteRunMetadata(b.ReportDir, b.RunID, meta); err != nil {
		b.warn("run metadata: %v", err)
	}
	return p, nil
}

// loadInstances reads Instances, or Dataset's split.
func (b *Batch) loadInstances() ([]swebench.Instance, []swebench.ItemError, error) {
	if b.Dataset != "" {
		return swebench.LoadDataset(b.Dataset, b.split())
	}
	return swebench.LoadInstances(b.Instances)
}

func (b *Batch) split() string {
	if b.Split == "" {
		return swebench.DefaultSplit
	}
	return b.Split
}

// source names where the instances come from, for messages.
func (b *Batch) source() string {
	if b.Dataset != "" {
		return fmt.Sprintf("%s (split %s)", b.Dataset, b.split())
	}
	return b.Instances
}

// Evaluate runs the plan's pending instances with ev on b.Workers workers,
// writing each instance's files as soon as it finishes. Once ctx is
// canceled no instance is started, and none is left half-written.
func (b *Batch) Evaluate(ctx context.Context, ev *Evaluator, p *BatchPlan) {
	work := make(chan *batchItem)
	var wg sync.WaitGroup
	for i := 0; i < b.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				res := ev.EvaluateSWE(ctx, it.inst, it.env, *it.pred.ModelPatch, b.Options)
				if ctx.Err() != nil {
					return // canceled: leave no half-written instance
				}
				b.record(it, res)
				if b.Done != nil {
					b.Done(res)
				}
			}
		}()
	}
feed:
	for _, it := range p.items {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
}

// Report builds the run report from every instance's report.json and
// writes it; it returns the report and its path.
func (b *Batch) Report(p *BatchPlan) (*swebench.RunReport, string, error) {
	outcomes := map[string]swebench.Outcome{}
	for _, inst := range p.instances {
		pred, ok := p.matched[inst.InstanceID]
		if !ok {
			continue
		}
		dir := filepath.Join(b.ReportDir, swebench.InstanceLogDir(b.RunID, pred.ModelNameOrPath, inst.InstanceID))
		o, err := swebench.ReadOutcome(filepath.Join(dir, "report.json"), inst.InstanceID)
		if err != nil {
			continue
		}
		if pred.IsEmpty() {
			outcomes[inst.InstanceID] = o
			continue
		}
		if err := o.Classify(dir); err != nil {
			b.warn("%s: classifying its logs: %v", inst.InstanceID, err)
		}
		outcomes[inst.InstanceID] = o
	}
	report := swebench.BuildRunReport(p.instances, p.matched, outcomes)
	// SWE-bench v5 writes its Docker leftovers whenever it has a Docker
	// client; a sandbox run leaves no container or image behind.
	report.DockerLeftovers = &swebench.DockerLeftovers{}
	path, err := swebench.WriteRunReport(b.ReportDir, p.Model, b.RunID, report)
	if err != nil {
		return nil, "", err
	}
	return report, path, nil
}

// record writes an instance's files: patch.diff, eval.sh and
// test_output.txt once the model patch applied, run_instance.log, agora.json
// and, when there is a verdict, report.json — last, since its presence is
// what marks the instance completed.
func (b *Batch) record(it *batchItem, res *SWEResult) {
	if err := os.MkdirAll(it.dir, 0o755); err != nil {
		b.warn("%s: %v", it.inst.InstanceID, err)
		return
	}
	rel := swebench.InstanceLogDir(b.RunID, it.model, it.inst.InstanceID)
	swebench.WriteFileAtomic(filepath.Join(it.dir, swebench.LogPatch), []byte(*it.pred.ModelPatch))
	evalScript := ""
	if patchApplied(res) {
		// SWE-bench writes eval.sh and test_output.txt once the model
		// patch is in; before that, what happened is in run_instance.log.
		s, err := EvalScript(it.inst, it.env)
		if err != nil {
			b.warn("%s: eval script: %v", it.inst.InstanceID, err)
		} else {
			evalScript = filepath.Join(rel, swebench.LogEvalScript)
			swebench.WriteFileAtomic(filepath.Join(it.dir, swebench.LogEvalScript), []byte(s))
		}
		swebench.WriteFileAtomic(filepath.Join(it.dir, swebench.LogTestOutput), res.Log)
	}
	swebench.WriteFileAtomic(filepath.Join(it.dir, swebench.LogInstance), instanceLog(rel, it.inst, it.env, res, evalScript))
	writeDetail(it.dir, NewInstanceDetail(it.inst.InstanceID, it.model, res.ErrKind, res.Err, res))
	if res.Err != nil {
		b.warn("%s: %s", it.inst.InstanceID, firstLine(res.Err.Error()))
		return
	}
	data, err := res.Report.Encode(it.inst.InstanceID)
	if err == nil {
		err = swebench.WriteFileAtomic(filepath.Join(it.dir, swebench.LogReport), data)
	}
	if err != nil {
		b.warn("%s: write report: %v", it.inst.InstanceID, err)
	}
}

// recordError records an instance that could not be evaluated at all.
func (b *Batch) recordError(it *batchItem, kind string, err error) {
	if mkErr := os.MkdirAll(it.dir, 0o755); mkErr == nil {
		var l swebench.InstanceLog
		logEvaluationError(&l, b.now(), it.inst.InstanceID, kind, err)
		swebench.WriteFileAtomic(filepath.Join(it.dir, swebench.LogInstance), l.Bytes())
		writeDetail(it.dir, NewInstanceDetail(it.inst.InstanceID, it.model, kind, err, nil))
	}
	b.warn("%s", firstLine(err.Error()))
}

// InstanceDetail is agora.json: what SWE-bench's report.json has no field
// for (why an instance failed, what was ignored, how long steps took).
// Pointer fields are present only when there was an error (Error,
// ErrorKind) or an evaluation (the others).
//
// NOTE: the fields are in the alphabetical order of their JSON names, the
// order of the file's first writer; TestInstanceDetailJSON keeps the bytes.
type InstanceDetail struct {
	Error            *string             `json:"error,omitempty"`
	ErrorKind        *string             `json:"error_kind,omitempty"`
	IgnoredTestEdits *[]string           `json:"ignored_test_edits,omitempty"`
	InstanceID       string              `json:"instance_id"`
	ModelNameOrPath  string              `json:"model_name_or_path"`
	Resolution       *grading.Resolution `json:"resolution,omitempty"`
	RunnerGuard      *bool               `json:"runner_guard,omitempty"`
	TamperFindings   []patch.Finding     `json:"tamper_findings,omitempty"`
	TestExitCode     *int                `json:"test_exit_code,omitempty"`
	TimingsMS        *DetailTimings      `json:"timings_ms,omitempty"`
}

// DetailTimings are an evaluation's step durations in milliseconds.
type DetailTimings struct {
	Checkout    int64 `json:"checkout"`
	Environment int64 `json:"environment"`
	Prepare     int64 `json:"prepare"`
	Test        int64 `json:"test"`
	Total       int64 `json:"total"`
}

// NewInstanceDetail is agora.json for an instance: err (of kind) when it
// failed, res when it was evaluated (nil when it could not be).
func NewInstanceDetail(instanceID, model, kind string, err error, res *SWEResult) *InstanceDetail {
	d := &InstanceDetail{InstanceID: instanceID, ModelNameOrPath: model}
	if err != nil {
		msg := err.Error()
		d.ErrorKind, d.Error = &kind, &msg
	}
	if res != nil {
		edits, guarded, exit := res.IgnoredTestEdits, res.Guarded, res.TestExitCode
		resolution := res.Resolution
		d.Resolution, d.TestExitCode, d.IgnoredTestEdits, d.RunnerGuard = &resolution, &exit, &edits, &guarded
		if len(res.TamperFindings) > 0 {
			d.TamperFindings = res.TamperFindings
		}
		d.TimingsMS = &DetailTimings{
			Checkout: res.Timings.Checkout.Milliseconds(), Environment: res.Timings.Environment.Milliseconds(),
			Prepare: res.Timings.Prepare.Milliseconds(), Test: res.Timings.Test.Milliseconds(),
			Total: res.Timings.Total.Milliseconds(),
		}
	}
	return d
}

// writeDetail writes agora.json into dir.
func writeDetail(dir string, d *InstanceDetail) {
	data, _ := json.MarshalIndent(d, "", "  ")
	swebench.WriteFileAtomic(filepath.Join(dir, "agora.json"), append(data, '\n'))
}

// userMessage is the domain message of err when it has one, its text
// otherwise.
func userMessage(err error) string {
	var e *agora.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
