package agora

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"time"
)

// Agent versions move screening → evaluating → scored, or stop at
// failed_screening. A version's code stays private until it is final,
// unless the league keeps it private for good.
const (
	AgentScreening       = "screening"
	AgentEvaluating      = "evaluating"
	AgentScored          = "scored"
	AgentFailedScreening = "failed_screening"
)

// Agent league defaults.
const (
	MaxAgentBytes             = 2 << 20
	DefaultLeagueMargin       = 0.015
	DefaultLeagueCopyBound    = 0.9
	DefaultAgentTimeout       = 600
	DefaultAgentBudgetMicroUS = 2_000_000 // 2 USD, per run and per kind
	MaxLeagueProblems         = 5000
)

// LeaguePresetRidges is the league preset for agents written for Ridges
// (SN62): Ridges' import allowlist, imports inside try/except allowed,
// and compile() allowed (agent.OptionsFor). Validators offer the same
// libraries and both of Ridges' proxy contracts to every league.
const LeaguePresetRidges = "ridges"

var competitionRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,119}$`)

// League is a competition between agents over a competition's swe tasks:
// a screening stage on a few problems, then the rest. Each agent version
// on each problem is one job.
type League struct {
	Competition string `json:"competition"`
	// ScreeningTasks are the task ids or slugs of the screening stage; the
	// full stage is every other live swe task of the competition.
	ScreeningTasks []string `json:"screening_tasks"`
	// ScreeningMinScore is the fraction of screening problems an agent
	// must resolve to go on.
	ScreeningMinScore float64 `json:"screening_min_score"`
	// Margin is the relative gain over the incumbent's stored score a
	// challenger needs: score >= incumbent * (1 + Margin).
	Margin float64 `json:"margin"`
	// Bootstrap also requires a paired bootstrap over the problems to call
	// the gain significant.
	Bootstrap bool `json:"bootstrap,omitempty"`
	// CopyBound is the normalized-token similarity above which an agent is
	// flagged as a near-copy of an earlier one.
	CopyBound float64 `json:"copy_bound"`
	// PrivateCode keeps code private after evaluation (by default it is
	// published when the version is final).
	PrivateCode bool `json:"private_code,omitempty"`
	// AllowedImports extend the standard library for agent code.
	AllowedImports []string `json:"allowed_imports,omitempty"`
	// Preset is "" (Agora's own rules) or LeaguePresetRidges.
	Preset string `json:"preset,omitempty"`
	// AgentTimeoutSeconds bounds one agent run.
	AgentTimeoutSeconds int `json:"agent_timeout_seconds"`
	// Per-run proxy budgets, in micro-USD.
	InferenceBudget int64 `json:"inference_budget_micro_usd"`
	EmbeddingBudget int64 `json:"embedding_budget_micro_usd"`
	// Models the proxy lets agents use; empty means the proxy's own list.
	Models []string `json:"models,omitempty"`

	// The crown: the incumbent and its stored score.
	CrownAgent string     `json:"crown_agent_id,omitempty"`
	CrownScore float64    `json:"crown_score,omitempty"`
	CrownedAt  *time.Time `json:"crowned_at,omitempty"`

	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SetDefaults fills the fields an owner may leave out.
func (l *League) SetDefaults() {
	if l.Margin == 0 {
		l.Margin = DefaultLeagueMargin
	}
	if l.CopyBound == 0 {
		l.CopyBound = DefaultLeagueCopyBound
	}
	if l.AgentTimeoutSeconds == 0 {
		l.AgentTimeoutSeconds = DefaultAgentTimeout
	}
	if l.InferenceBudget == 0 {
		l.InferenceBudget = DefaultAgentBudgetMicroUS
	}
	if l.EmbeddingBudget == 0 {
		l.EmbeddingBudget = DefaultAgentBudgetMicroUS
	}
}

// Validate returns EINVALID naming the field.
func (l *League) Validate() error {
	bad := func(field, format string, args ...any) error {
		return Errorf(EINVALID, "%s: %s", field, fmt.Sprintf(format, args...))
	}
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	switch {
	case !competitionRE.MatchString(l.Competition):
		return bad("competition", "%q must be 1-120 of a-z 0-9 . _ - (it names the league in URLs)", l.Competition)
	case len(l.ScreeningTasks) == 0:
		return bad("screening_tasks", "at least one task")
	case len(l.ScreeningTasks) > MaxLeagueProblems:
		return bad("screening_tasks", "at most %d", MaxLeagueProblems)
	case !finite(l.ScreeningMinScore) || l.ScreeningMinScore < 0 || l.ScreeningMinScore > 1:
		return bad("screening_min_score", "must be in [0, 1]")
	case !finite(l.Margin) || l.Margin < 0 || l.Margin > 10:
		return bad("margin", "must be in [0, 10]")
	case !finite(l.CopyBound) || l.CopyBound <= 0 || l.CopyBound > 1:
		return bad("copy_bound", "must be in (0, 1]")
	case l.AgentTimeoutSeconds < 1 || l.AgentTimeoutSeconds > MaxTimeBudget:
		return bad("agent_timeout_seconds", "must be in 1..%d", MaxTimeBudget)
	case l.InferenceBudget < 0 || l.EmbeddingBudget < 0:
		return bad("inference_budget_micro_usd", "budgets must not be negative")
	case l.Preset != "" && l.Preset != LeaguePresetRidges:
		return bad("preset", "%q is not a preset (want empty or %q)", l.Preset, LeaguePresetRidges)
	}
	seen := map[string]bool{}
	for i, t := range l.ScreeningTasks {
		if t == "" || seen[t] {
			return bad(fmt.Sprintf("screening_tasks[%d]", i), "empty or repeated")
		}
		seen[t] = true
	}
	return nil
}

// Agent is one version of a miner's agent in a league.
type Agent struct {
	ID          string `json:"id"`
	Competition string `json:"competition"`
	Miner       string `json:"miner_hotkey"`
	Version     int    `json:"version"`
	SHA256      string `json:"code_sha256"`
	Size        int    `json:"code_size"`
	Status      string `json:"status"`
	// Imports are what the static check found.
	Imports []string `json:"imports,omitempty"`

	// Per stage: problems decided and resolved; Score is resolved over
	// all problems decided, final once Status is scored.
	Problems       int      `json:"problems"`
	Decided        int      `json:"decided"`
	Resolved       int      `json:"resolved"`
	ScreeningScore *float64 `json:"screening_score,omitempty"`
	Score          *float64 `json:"score,omitempty"`

	// SimilarTo is the earlier agent this one is a near-copy of.
	SimilarTo  string  `json:"similar_to,omitempty"`
	Similarity float64 `json:"similarity,omitempty"`

	Crowned    bool       `json:"crowned"`
	Decision   string     `json:"decision,omitempty"`
	CodePublic bool       `json:"code_public"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Final reports whether the version's evaluation has ended.
func (a *Agent) Final() bool { return a.Status == AgentScored || a.Status == AgentFailedScreening }

// AgentUploadMessage is what a miner signs to publish a version:
// "<hotkey>:<sha256 hex>:<version>", as Ridges does.
func AgentUploadMessage(hotkey, sha256Hex string, version int) string {
	return fmt.Sprintf("%s:%s:%d", hotkey, sha256Hex, version)
}

// AgentFilter selects agents.
type AgentFilter struct {
	Competition *string
	Miner       *string
	Status      *string
	Offset      int
	Limit       int
}

// AgentRun is the part of a replay spec that makes a job an agent run:
// the validator runs the agent on the problem statement, then grades the
// patch it returns like any other.
type AgentRun struct {
	AgentID         string   `json:"agent_id"`
	Version         int      `json:"version"`
	CodeSHA256      string   `json:"code_sha256"`
	RunID           string   `json:"run_id"`
	TimeoutSeconds  int      `json:"timeout_seconds"`
	InferenceBudget int64    `json:"inference_budget_micro_usd"`
	EmbeddingBudget int64    `json:"embedding_budget_micro_usd"`
	Models          []string `json:"models,omitempty"`
}

// Agent run error kinds: how an agent failed on its own, as the runner in
// the sandbox reports it (agent.Runner writes these spellings) and as
// AgentReport.ErrorKind records it. A run that could not happen at all has
// the evaluation's kind instead (sandbox, environment, repository).
const (
	// AgentCrash: the agent raised, exited, or failed to import.
	AgentCrash = "crash"
	// AgentTimeout: the agent ran past AGENT_TIMEOUT.
	AgentTimeout = "timeout"
	// AgentMalformed: no callable agent_main, a result that is not a dict
	// with a str "patch", or a patch over the runner's size cap.
	AgentMalformed = "malformed"
)

// AgentReport is what a validator saw of one agent run.
type AgentReport struct {
	// Patch is what agent_main returned (bounded by the task's patch cap).
	Patch string `json:"patch,omitempty"`
	// ErrorKind is AgentCrash, AgentTimeout, AgentMalformed, or the
	// evaluation's kind (e.g. sandbox) when the agent produced no patch.
	ErrorKind string `json:"error_kind,omitempty"`
	Error     string `json:"error,omitempty"`
	// Spend from the proxy's ledger, from the upstream's usage fields.
	InferenceMicroUSD int64 `json:"inference_micro_usd"`
	EmbeddingMicroUSD int64 `json:"embedding_micro_usd"`
	Calls             int   `json:"calls"`
	Refused           int   `json:"refused_calls,omitempty"`
	DurationMS        int64 `json:"duration_ms"`
}

// AgentAdvance is one stage transition, applied atomically and only if
// the agent is still in From.
type AgentAdvance struct {
	From string
	// Agent holds the new status, counts, scores and decision.
	Agent *Agent
	// NextTasks are the task ids of the next stage's jobs.
	NextTasks []string
	// Crown, when set, makes the agent the incumbent with its score, but
	// only if the incumbent is still Incumbent (ECONFLICT otherwise).
	Crown     bool
	Incumbent string
}

// LeagueService keeps leagues, agent versions and their code.
type LeagueService interface {
	// PutLeague creates or replaces a league's configuration (the crown
	// is kept). EINVALID.
	PutLeague(ctx context.Context, l *League) error
	// FindLeague returns a league. ENOTFOUND.
	FindLeague(ctx context.Context, competition string) (*League, error)
	// CreateAgent stores a version, its code (by content hash) and the
	// screening jobs. ECONFLICT when the miner's previous version is
	// still under evaluation or Version is not the next number.
	CreateAgent(ctx context.Context, a *Agent, code []byte, screening []string) error
	// FindAgentByID returns a version. ENOTFOUND.
	FindAgentByID(ctx context.Context, id string) (*Agent, error)
	// FindAgents lists versions, newest first.
	FindAgents(ctx context.Context, f AgentFilter) ([]*Agent, int, error)
	// AgentCode returns code by its SHA-256. ENOTFOUND.
	AgentCode(ctx context.Context, sha256Hex string) ([]byte, error)
	// AgentPending counts a version's jobs still without a verdict.
	AgentPending(ctx context.Context, agentID string) (int, error)
	// AgentSubmissions returns the jobs' submissions of a version.
	AgentSubmissions(ctx context.Context, agentID string) ([]*Submission, error)
	// AdvanceAgent applies a stage transition. ECONFLICT when the agent
	// is no longer in adv.From or the incumbent changed.
	AdvanceAgent(ctx context.Context, adv *AgentAdvance) error
	// LeagueCrownings returns the league's crown history, oldest first.
	LeagueCrownings(ctx context.Context, competition string) ([]Crowning, error)
}

// HiddenProblem returns a hidden league problem as miners and the public
// see it: agents solve it, so nobody but owners and validators reads the
// statement, hints, tests, title or repository. It is listed by id and
// slug with its kind, competition, visibility and state, so a miner can
// follow its agent's jobs.
func HiddenProblem(t *Task) *Task {
	c := &Task{
		ID: t.ID, Slug: t.Slug, Title: "hidden problem " + t.Slug, Kind: t.Kind, Competition: t.Competition,
		TimeBudgetSeconds: t.TimeBudgetSeconds, MaxPatchBytes: t.MaxPatchBytes, CompetitionMode: t.CompetitionMode,
		Visibility: t.Visibility, State: t.State, Source: t.Source, Quorum: t.Quorum,
		CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
	if t.SWE != nil {
		c.SWE = &SWESpec{ProblemStatement: HiddenStatement}
	}
	return c
}

// HiddenStatement stands in for a hidden league problem's statement.
const HiddenStatement = "(hidden league problem: the statement reaches the agent inside its run, never miners)"
