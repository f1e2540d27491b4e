package agora

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Task kinds.
const (
	TaskSWE    = "swe"    // SWE-bench semantics: a patch, graded by tests
	TaskMetric = "metric" // BitSota semantics: a patch, graded by a measured number
)

// Competition modes, as BitSota names them.
const (
	ModeStandard       = "standard"        // validators replay; the best result wins
	ModeCenterless     = "centerless"      // like standard, every submission carries an idea
	ModePeerEvaluation = "peer_evaluation" // other miners replay; median of their results
)

// Visibility of a task's grading data.
const (
	VisibilityPublic = "public"
	VisibilityHidden = "hidden" // tests and gold data never reach miners
)

// Task states.
const (
	TaskLive   = "live"
	TaskPaused = "paused"
	TaskClosed = "closed"
)

// Metric directions and ranking modes.
const (
	Minimize      = "minimize"
	Maximize      = "maximize"
	RankingScalar = "scalar"
	RankingPareto = "pareto"
)

// Task defaults and bounds.
const (
	DefaultTimeBudget    = 3600
	MaxTimeBudget        = 86400
	DefaultMaxPatchBytes = 256 << 10
	DefaultQuorum        = 1
	MaxQuorum            = 16
	MaxAllowedPaths      = 64
	DefaultTolerance     = 0.05
)

// Task is an immutable, replayable problem: everything a validator needs to
// replay a submission is here or in the replay spec frozen from it.
type Task struct {
	ID                 string   `json:"id"`
	Slug               string   `json:"slug"`
	Title              string   `json:"title"`
	Brief              string   `json:"brief,omitempty"`
	Kind               string   `json:"kind"`
	Competition        string   `json:"competition,omitempty"`
	Repository         string   `json:"repository"`
	BaseRef            string   `json:"base_ref"`
	Environment        string   `json:"environment,omitempty"`
	TimeBudgetSeconds  int      `json:"time_budget_seconds"`
	AllowedPatchPaths  []string `json:"allowed_patch_paths,omitempty"`
	MaxPatchBytes      int      `json:"max_patch_bytes"`
	CompetitionMode    string   `json:"competition_mode"`
	MinPeerEvaluations int      `json:"min_peer_evaluations,omitempty"`
	Visibility         string   `json:"visibility"`
	State              string   `json:"task_state"`
	Source             string   `json:"source,omitempty"`
	// Quorum is how many distinct validators replay each submission.
	Quorum int `json:"quorum"`
	// MaxArtifactBytes caps the declared size of a submission's artifact
	// (0: DefaultMaxArtifactBytes; at most MaxArtifactBytes).
	MaxArtifactBytes int64 `json:"max_artifact_bytes,omitempty"`
	// TamperPolicy is what a tampering finding (the static scan of a
	// patch for test-runner tampering) does to a submission: TamperReject
	// or TamperHold; empty means EffectiveTamperPolicy's default.
	TamperPolicy string `json:"tamper_policy,omitempty"`

	SWE *SWESpec `json:"swe,omitempty"`

	// MetricContract holds a metric task's commands and metric; its
	// fields appear at the top level of the JSON, as in BitSota.
	MetricContract
	// ImprovementThreshold is how much (relative, 0.01 = 1%) a result must
	// beat the best one by to take its place; NoiseMargin is an absolute
	// band on top of it, for metrics with known measurement noise.
	ImprovementThreshold float64 `json:"improvement_threshold,omitempty"`
	NoiseMargin          float64 `json:"noise_margin,omitempty"`
	// Tolerance is the relative spread between validators' metrics above
	// which a verdict is flagged as disputed.
	Tolerance float64 `json:"tolerance,omitempty"`
	// ValidatorEnv holds validator-only values (a held-out seed, a data
	// location). They reach the score command only, never the patched
	// code, and are redacted from every log.
	ValidatorEnv map[string]string `json:"validator_benchmark_env,omitempty"`
	// PaySelfReported lets a self-reported metric task (one without a
	// score command) crown and pay its best result anyway: the owner
	// accepts that the patched code reports its own metric.
	PaySelfReported bool `json:"pay_self_reported,omitempty"`
	// SelfReported is computed, never taken from input: it is set from
	// SelfReports whenever the task is encoded (see MarshalJSON), so readers
	// see why a task crowns nobody.
	SelfReported bool `json:"self_reported,omitempty"`

	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MetricContract is how a metric task is replayed and scored (BitSota's
// field names, plus ScoreCommand). The task and the replay spec frozen
// from it share it.
//
// A replay has two steps in separate sandbox runs. Produce: the patched
// tree's SetupCommand (no task environment) and BenchmarkCommand, which
// writes its outputs to the directory named by AGORA_OUTPUT_DIR. Score:
// ScoreCommand, run on a fresh tree at the base commit (the patch cannot
// change the scorer) with the produce outputs mounted read-only and the
// validator-only environment; the metric is read from ResultPath in that
// tree, or from the score command's output. No process of the patched code
// is alive by then. The patched code is data to the scorer: a score
// command must not execute what the outputs hold (pickles included).
//
// Without a ScoreCommand the task is BitSota's single command: the patched
// code's benchmark writes its own result. Such a task is self-reported
// (Task.SelfReports) and crowns and pays nobody unless the owner opts in.
type MetricContract struct {
	SetupCommand     string `json:"setup_command,omitempty"`
	BenchmarkCommand string `json:"benchmark_command,omitempty"`
	// ScoreCommand is the task owner's scorer (see above).
	ScoreCommand             string `json:"score_command,omitempty"`
	ResultPath               string `json:"result_path,omitempty"`
	MetricName               string `json:"metric_name,omitempty"`
	MetricDirection          string `json:"metric_direction,omitempty"`
	RankingMode              string `json:"ranking_mode,omitempty"`
	SecondaryMetricName      string `json:"secondary_metric_name,omitempty"`
	SecondaryMetricDirection string `json:"secondary_metric_direction,omitempty"`
}

// ValidateMetric returns EINVALID naming the first bad field of c's metric
// (by its JSON name): the metric's name and direction, the result path,
// the ranking mode ("" is scalar, what SetDefaults stores) and the
// secondary metric, which pareto ranking requires and scalar ranking
// refuses. It is the one metric rule: Task.Validate applies it when a task
// is posted, and the metric package when a replay reads the number. The
// commands are the task's business (Task.Validate requires a benchmark).
//
// It is not named Validate because ReplaySpec embeds MetricContract, and a
// promoted Validate would look like the whole spec's.
func (c MetricContract) ValidateMetric() error {
	bad := func(field, format string, args ...any) error {
		return Errorf(EINVALID, "%s: %s", field, fmt.Sprintf(format, args...))
	}
	if c.MetricName == "" {
		return bad("metric_name", "required for kind metric")
	}
	if err := ValidateMetricName(c.MetricName); err != nil {
		return bad("metric_name", "%s", ErrorMessage(err))
	}
	if c.MetricDirection != Minimize && c.MetricDirection != Maximize {
		return bad("metric_direction", "must be minimize or maximize")
	}
	if err := ValidateResultPath(c.ResultPath); err != nil {
		return bad("result_path", "%s", ErrorMessage(err))
	}
	switch c.RankingMode {
	case "", RankingScalar:
		if c.SecondaryMetricName != "" {
			return bad("secondary_metric_name", "only with ranking_mode pareto")
		}
	case RankingPareto:
		if c.SecondaryMetricName == "" {
			return bad("secondary_metric_name", "required with ranking_mode pareto")
		}
		if err := ValidateMetricName(c.SecondaryMetricName); err != nil {
			return bad("secondary_metric_name", "%s", ErrorMessage(err))
		}
		if strings.EqualFold(c.SecondaryMetricName, c.MetricName) {
			// Output extraction ignores case: the same number twice.
			return bad("secondary_metric_name", "must differ from metric_name")
		}
		if c.SecondaryMetricDirection != Minimize && c.SecondaryMetricDirection != Maximize {
			return bad("secondary_metric_direction", "must be minimize or maximize")
		}
	default:
		return bad("ranking_mode", "must be scalar or pareto")
	}
	return nil
}

// SWESpec holds a task's SWE-bench instance fields, under SWE-bench's names.
type SWESpec struct {
	InstanceID       string   `json:"instance_id"`
	ProblemStatement string   `json:"problem_statement"`
	Version          string   `json:"version,omitempty"`
	HintsText        string   `json:"hints_text,omitempty"`
	TestPatch        string   `json:"test_patch,omitempty"`
	GoldPatch        string   `json:"patch,omitempty"`
	FailToPass       []string `json:"FAIL_TO_PASS,omitempty"`
	PassToPass       []string `json:"PASS_TO_PASS,omitempty"`
	// LogParser names the SWE-bench log parser (e.g. parse_log_pytest);
	// empty means the environment's or the repository's default.
	LogParser string `json:"log_parser,omitempty"`
}

var (
	slugRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,119}$`)
	commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// SelfReports reports whether t is a metric task whose metric is written
// by the patched code itself: it has no score command, so whatever the
// benchmark (miner code) leaves in the result file or prints is the score.
func (t *Task) SelfReports() bool {
	return t.Kind == TaskMetric && strings.TrimSpace(t.ScoreCommand) == ""
}

// Crowns reports whether t's results may take its best result, be crowned
// and be paid. It is the one rule that leaderboards (RankTask) and rewards
// (Crownings) apply: a self-reported task crowns nobody unless its owner
// set PaySelfReported.
func (t *Task) Crowns() bool {
	return !t.SelfReports() || t.PaySelfReported
}

// MarshalJSON encodes t with SelfReported computed from its contract, so
// a stored or posted value can never disagree with the rule.
func (t Task) MarshalJSON() ([]byte, error) {
	type plain Task // no methods: no recursion
	p := plain(t)
	p.SelfReported = t.SelfReports()
	return json.Marshal(p)
}

// MaxMetricNameLen bounds a metric name. Names end up in regular
// expressions and in every stored observation, so they are kept short.
const MaxMetricNameLen = 128

// metricNameRE is the shape of a metric name. The first and last characters
// are word characters so that the \b around the name in the output pattern
// means what it says; ASCII only because Go's \b is ASCII while Python's is
// Unicode, and the two runners must agree on what matches.
var metricNameRE = regexp.MustCompile(`^[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?$`)

// ValidateMetricName returns EINVALID unless name is a usable metric name:
// 1 to MaxMetricNameLen ASCII characters from [A-Za-z0-9_.-], starting and
// ending with a letter, digit or underscore (e.g. "heldout_ppl").
func ValidateMetricName(name string) error {
	switch {
	case name == "":
		return Errorf(EINVALID, "metric name is required")
	case len(name) > MaxMetricNameLen:
		return Errorf(EINVALID, "metric name is longer than %d characters", MaxMetricNameLen)
	case !metricNameRE.MatchString(name):
		return Errorf(EINVALID, "metric name %q must be letters, digits, '_', '.' or '-', starting and ending with a letter, digit or '_'", name)
	}
	return nil
}

// maxResultPathLen bounds a result path; PATH_MAX on Linux.
const maxResultPathLen = 4096

// ValidateResultPath returns EINVALID unless p is "" or a clean relative
// slash path inside the repository: not absolute, no "." or ".." element, no
// ".git" element (the result file must not be read from, or steer a reader
// into, git's metadata), no backslash or NUL. The check is lexical; the reader
// must still refuse symlinks and non-regular files, since a command that
// writes the file controls the tree.
func ValidateResultPath(p string) error {
	switch {
	case p == "":
		return nil
	case len(p) > maxResultPathLen:
		return Errorf(EINVALID, "is longer than %d bytes", maxResultPathLen)
	case strings.ContainsAny(p, "\\\x00"):
		return Errorf(EINVALID, "%q contains a backslash or NUL; use a slash-separated relative path", p)
	case strings.HasPrefix(p, "/"):
		return Errorf(EINVALID, "%q is absolute; use a path relative to the repository root", p)
	}
	for _, elem := range strings.Split(p, "/") {
		switch {
		case elem == "..":
			return Errorf(EINVALID, "%q contains \"..\"; the result file must be inside the repository", p)
		case strings.EqualFold(elem, ".git"):
			// EqualFold: on case-insensitive file systems ".GIT" is ".git".
			return Errorf(EINVALID, "%q is inside .git", p)
		}
	}
	if c := path.Clean(p); c != p || c == "." {
		return Errorf(EINVALID, "%q is not a clean path to a file (want %q)", p, c)
	}
	return nil
}

// IsCommit reports whether ref is a full, lower-case 40-hex commit id.
func IsCommit(ref string) bool { return commitRE.MatchString(ref) }

// SetDefaults fills the fields a poster may leave out.
func (t *Task) SetDefaults() {
	if t.TimeBudgetSeconds == 0 {
		t.TimeBudgetSeconds = DefaultTimeBudget
	}
	if t.MaxPatchBytes == 0 {
		t.MaxPatchBytes = DefaultMaxPatchBytes
	}
	if t.CompetitionMode == "" {
		t.CompetitionMode = ModeStandard
	}
	if t.Visibility == "" {
		t.Visibility = VisibilityPublic
	}
	if t.State == "" {
		t.State = TaskLive
	}
	if t.Quorum == 0 {
		t.Quorum = DefaultQuorum
	}
	t.SelfReported = t.SelfReports()
	if t.Kind == TaskMetric {
		if t.RankingMode == "" {
			t.RankingMode = RankingScalar
		}
		if t.Tolerance == 0 {
			t.Tolerance = DefaultTolerance
		}
	}
	if t.CompetitionMode == ModePeerEvaluation && t.MinPeerEvaluations == 0 {
		t.MinPeerEvaluations = 3
	}
}

// Validate returns an EINVALID error naming the first bad field, or
// EUNPROCESSABLE when the base ref is not a pinned commit.
func (t *Task) Validate() error {
	bad := func(field, format string, args ...any) error {
		return Errorf(EINVALID, "%s: %s", field, fmt.Sprintf(format, args...))
	}
	switch {
	case !slugRE.MatchString(t.Slug):
		return bad("slug", "must be 3-120 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
	case len(t.Title) < 3 || len(t.Title) > 255:
		return bad("title", "must be 3-255 characters")
	case len(t.Brief) > 20000:
		return bad("brief", "at most 20000 characters")
	case t.Kind != TaskSWE && t.Kind != TaskMetric:
		return bad("kind", "must be %q or %q", TaskSWE, TaskMetric)
	case t.Repository == "":
		return bad("repository", "required")
	case t.BaseRef == "":
		return bad("base_ref", "required")
	case !IsCommit(t.BaseRef):
		return Errorf(EUNPROCESSABLE, "base_ref: %q is not a pinned commit; give the full 40-hex commit id", t.BaseRef)
	case t.TimeBudgetSeconds < 1 || t.TimeBudgetSeconds > MaxTimeBudget:
		return bad("time_budget_seconds", "must be 1-%d", MaxTimeBudget)
	case t.MaxPatchBytes < 1 || t.MaxPatchBytes > DefaultMaxPatchBytes:
		return bad("max_patch_bytes", "must be 1-%d", DefaultMaxPatchBytes)
	case t.MaxArtifactBytes < 0 || t.MaxArtifactBytes > MaxArtifactBytes:
		return bad("max_artifact_bytes", "must be 1-%d (0: the default, %d)", int64(MaxArtifactBytes), int64(DefaultMaxArtifactBytes))
	case len(t.AllowedPatchPaths) > MaxAllowedPaths:
		return bad("allowed_patch_paths", "at most %d globs", MaxAllowedPaths)
	case t.CompetitionMode != ModeStandard && t.CompetitionMode != ModeCenterless && t.CompetitionMode != ModePeerEvaluation:
		return bad("competition_mode", "must be standard, centerless or peer_evaluation")
	case t.CompetitionMode == ModePeerEvaluation && (t.MinPeerEvaluations < 1 || t.MinPeerEvaluations > 20):
		return bad("min_peer_evaluations", "must be 1-20")
	case t.Visibility != VisibilityPublic && t.Visibility != VisibilityHidden:
		return bad("visibility", "must be public or hidden")
	case t.State != TaskLive && t.State != TaskPaused && t.State != TaskClosed:
		return bad("task_state", "must be live, paused or closed")
	case t.TamperPolicy != "" && t.TamperPolicy != TamperReject && t.TamperPolicy != TamperHold:
		return bad("tamper_policy", "%q: must be %s or %s (empty: reject on hidden or paid tasks, hold otherwise)", t.TamperPolicy, TamperReject, TamperHold)
	case t.Quorum < 1 || t.Quorum > MaxQuorum:
		return bad("quorum", "must be 1-%d", MaxQuorum)
	case t.ImprovementThreshold < 0 || t.NoiseMargin < 0 || t.Tolerance < 0:
		return bad("improvement_threshold", "thresholds and margins cannot be negative")
	}
	for i, g := range t.AllowedPatchPaths {
		if g == "" || strings.HasPrefix(g, "/") || strings.Contains(g, "..") {
			return bad(fmt.Sprintf("allowed_patch_paths[%d]", i), "%q must be a relative glob without '..'", g)
		}
	}
	switch t.Kind {
	case TaskSWE:
		if t.SWE == nil {
			return bad("swe", "required for kind swe")
		}
		if t.SWE.InstanceID == "" {
			return bad("swe.instance_id", "required")
		}
		if t.SWE.ProblemStatement == "" {
			return bad("swe.problem_statement", "required")
		}
		if len(t.SWE.FailToPass) == 0 {
			return bad("swe.FAIL_TO_PASS", "at least one test must go from failing to passing")
		}
		if t.Environment == "" {
			return bad("environment", "required for kind swe (the env spec name, e.g. the repository's)")
		}
		if t.BenchmarkCommand != "" || t.MetricName != "" {
			return bad("benchmark_command", "only for kind metric")
		}
		if t.ScoreCommand != "" {
			return bad("score_command", "only for kind metric")
		}
		if t.PaySelfReported {
			return bad("pay_self_reported", "only for kind metric")
		}
	case TaskMetric:
		if t.SWE != nil {
			return bad("swe", "only for kind swe")
		}
		if t.BenchmarkCommand == "" {
			return bad("benchmark_command", "required for kind metric")
		}
		if err := t.MetricContract.ValidateMetric(); err != nil {
			return err
		}
		if t.PaySelfReported && !t.SelfReports() {
			return bad("pay_self_reported", "only for tasks without a score_command: a scored task is paid anyway")
		}
		for _, k := range slices.Sorted(maps.Keys(t.ValidatorEnv)) {
			if !envKeyRE.MatchString(k) {
				return bad("validator_benchmark_env", "%q is not an environment variable name", k)
			}
		}
		if len(t.AllowedPatchPaths) == 0 {
			return bad("allowed_patch_paths", "required for kind metric: the files a patch may change")
		}
	}
	return nil
}

// Tamper policies: what a finding of the static tampering scan does to a
// submission. NOTE: patch.TamperReject and patch.TamperHold carry the same
// values (patch cannot be imported here).
const (
	TamperReject = "reject" // refused when submitted, naming the findings
	TamperHold   = "hold"   // stored held: no job until the task's owner releases it
)

// EffectiveTamperPolicy returns the task's tamper policy or, when it sets
// none, the default: reject for a hidden task (nobody outside can audit
// its verdicts, and its owner is not asked to) and for a task whose
// results are paid (paid: its competition has a paying reward
// policy and the task crowns), hold otherwise. Paid is the coordinator's
// knowledge of its reward policies at submission time; the policy it
// yields is frozen into the replay spec, so a later policy change does not
// change how a stored submission is graded.
func (t *Task) EffectiveTamperPolicy(paid bool) string {
	switch {
	case t.TamperPolicy != "":
		return t.TamperPolicy
	case t.Visibility == VisibilityHidden || paid && t.Crowns():
		return TamperReject
	}
	return TamperHold
}

// Public returns a copy fit for miners and the public: validator-private
// environment and gold data are removed always, and the tests too when the
// task is hidden.
func (t *Task) Public() *Task { return t.public(t.Visibility != VisibilityHidden) }

// public copies t without validator-private environment and gold data,
// and without its tests unless tests is set.
func (t *Task) public(tests bool) *Task {
	c := *t
	c.ValidatorEnv = nil
	if t.SWE != nil {
		s := *t.SWE
		s.GoldPatch = ""
		if !tests {
			s.TestPatch, s.FailToPass, s.PassToPass = "", nil, nil
		}
		c.SWE = &s
	}
	return &c
}

// TaskFilter selects tasks; nil fields are not filtered on.
type TaskFilter struct {
	Kind        *string
	State       *string
	Competition *string
	Slug        *string
	Offset      int
	Limit       int
}

// TaskService manages tasks.
type TaskService interface {
	// CreateTask stores a new task. EINVALID/EUNPROCESSABLE from
	// Validate, ECONFLICT when the slug is taken.
	CreateTask(ctx context.Context, t *Task) error
	// ImportTasks stores all of tasks or none. Same errors as CreateTask,
	// with the item's index in the message.
	ImportTasks(ctx context.Context, tasks []*Task) error
	// FindTaskByID returns ENOTFOUND for an unknown id or slug.
	FindTaskByID(ctx context.Context, id string) (*Task, error)
	// FindTasks returns a page of tasks and the total that match.
	FindTasks(ctx context.Context, f TaskFilter) ([]*Task, int, error)
	// SetTaskState pauses, resumes or closes a task. ENOTFOUND, EINVALID.
	SetTaskState(ctx context.Context, id, state string) (*Task, error)
}
