package agora

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Job states.
const (
	JobQueued = "queued" // waiting for a validator (also after a lease expired)
	JobLeased = "leased" // a validator holds it until the lease expires
	JobDone   = "done"   // a result was recorded
	JobFailed = "failed" // every attempt's lease expired without a result
)

// Result statuses, BitSota's: accepted means resolved (swe) or measured
// (metric); rejected means replayed and not good (tests fail, patch refused,
// benchmark declared a policy failure); error means the replay could not
// produce an answer (repository unreachable, sandbox failure, timeout).
const (
	ResultAccepted = "accepted"
	ResultRejected = "rejected"
	ResultError    = "error"
)

// Lease defaults.
const (
	DefaultLeaseTTL    = 10 * time.Minute
	DefaultMaxAttempts = 3
	MaxLeaseBatch      = 32
)

// Job is one replay of one submission by one validator. A submission with a
// quorum of N has N jobs, and no validator holds two of them.
type Job struct {
	ID             string     `json:"job_id"`
	SubmissionID   string     `json:"submission_id"`
	TaskID         string     `json:"task_id"`
	Slot           int        `json:"slot"`
	Status         string     `json:"status"`
	Validator      string     `json:"validator_hotkey,omitempty"`
	Attempts       int        `json:"attempts"`
	LeaseExpiresAt *time.Time `json:"lease_expires_at,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// Lease is a job handed to a validator with everything it needs to replay.
type Lease struct {
	Job            *Job            `json:"job"`
	Submission     *Submission     `json:"submission"`
	ReplaySpec     json.RawMessage `json:"replay_spec"`
	ReplaySpecHash string          `json:"replay_spec_hash"`
}

// LeaseRequest asks for up to Max jobs for Validator.
type LeaseRequest struct {
	Validator string
	TaskID    string // optional filter
	// SubmissionID, optional, leases only a job of that submission (a
	// validator answering one submission directly).
	SubmissionID string
	// TaskIDs, when not nil, leases only jobs of these tasks (a
	// validator that can replay only some kinds of task).
	TaskIDs     []string
	Max         int
	TTL         time.Duration
	MaxAttempts int
}

// Result is what one validator (or, for peer evaluation, one miner)
// observed when replaying a submission.
type Result struct {
	JobID           string             `json:"job_id,omitempty"`
	SubmissionID    string             `json:"submission_id"`
	Validator       string             `json:"validator_hotkey"`
	Status          string             `json:"status"`
	Tests           map[string]string  `json:"tests,omitempty"`
	ObservedMetrics map[string]float64 `json:"observed_metrics,omitempty"`
	Reason          string             `json:"reason,omitempty"`
	Notes           string             `json:"notes,omitempty"`
	// LogExcerpt is a bounded head and tail of the replay log; the whole
	// log is kept by content hash.
	LogExcerpt string `json:"log_excerpt,omitempty"`
	LogSHA256  string `json:"log_sha256,omitempty"`
	LogBytes   int64  `json:"log_bytes,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
	Peer       bool   `json:"peer,omitempty"`
	// Agent reports the agent run of a league job.
	Agent *AgentReport `json:"agent,omitempty"`
	// Signer and Signature: the hotkey that signed the result (always its
	// Validator; the coordinator takes no other) and its sr25519
	// signature, "0x"+hex, over SigningDigest of the submission's replay
	// spec hash. Empty on results from clients that do not sign
	// (BitSota's validators) and on those stored before signing existed.
	Signer    string    `json:"signer,omitempty"`
	Signature string    `json:"signature,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Result bounds.
const (
	MaxLogBytes        = 8 << 20
	MaxLogExcerptBytes = 8 << 10
	MaxResultTests     = 20000
)

// Validate checks a result's shape: EINVALID naming the field.
func (r *Result) Validate() error {
	bad := func(field, format string, args ...any) error {
		return Errorf(EINVALID, "%s: %s", field, fmt.Sprintf(format, args...))
	}
	switch r.Status {
	case ResultAccepted, ResultRejected, ResultError:
	default:
		return bad("status", "must be accepted, rejected or error")
	}
	if len(r.Tests) > MaxResultTests {
		return bad("tests", "at most %d entries", MaxResultTests)
	}
	for k, v := range r.ObservedMetrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return bad("observed_metrics."+k, "must be a finite number")
		}
	}
	if r.Status == ResultError && r.Reason == "" {
		return bad("reason", "required with status error")
	}
	switch {
	case (r.Signature == "") != (r.Signer == ""):
		return bad("signature", "signature and signer go together")
	case r.Signature != "" && !signatureRE.MatchString(r.Signature):
		return bad("signature", "must be 0x and 128 hex digits (a 64-byte sr25519 signature)")
	case len(r.Signer) > 64:
		return bad("signer", "at most 64 characters")
	}
	if len(r.Notes) > 20000 || len(r.Reason) > 2000 {
		return bad("notes", "notes at most 20000 and reason at most 2000 characters")
	}
	if a := r.Agent; a != nil {
		switch {
		case len(a.Patch) > MaxAgentBytes:
			return bad("agent.patch", "at most %d bytes", MaxAgentBytes)
		case len(a.Error) > 4000 || len(a.ErrorKind) > 40:
			return bad("agent.error", "at most 4000 characters")
		case a.InferenceMicroUSD < 0 || a.EmbeddingMicroUSD < 0 || a.Calls < 0 || a.Refused < 0 || a.DurationMS < 0:
			return bad("agent", "spend, calls and duration must not be negative")
		}
	}
	return nil
}

var signatureRE = regexp.MustCompile(`^0x[0-9a-fA-F]{128}$`)

// Verdict is the aggregate of a submission's results.
type Verdict struct {
	Status string `json:"status"`
	// Metrics holds, for metric tasks, the median of each metric over the
	// accepting results.
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Accepted int                `json:"accepted"`
	Rejected int                `json:"rejected"`
	Errors   int                `json:"errors"`
	// Disputed marks results that disagree beyond the task's tolerance:
	// the verdict stands, and the disagreement is on record.
	Disputed      bool      `json:"disputed,omitempty"`
	DisputeReason string    `json:"dispute_reason,omitempty"`
	DecidedAt     time.Time `json:"decided_at"`
}

// Decide aggregates results into a verdict: a strict majority of the
// results that ran (accepted or rejected) decides; ties reject; only errors
// give an error verdict. For metric tasks the verdict's metrics are the
// medians over accepting results, and a relative spread above the task's
// tolerance is flagged.
func Decide(t *Task, results []*Result, now time.Time) *Verdict {
	v := &Verdict{DecidedAt: now}
	for _, r := range results {
		switch r.Status {
		case ResultAccepted:
			v.Accepted++
		case ResultRejected:
			v.Rejected++
		default:
			v.Errors++
		}
	}
	ran := v.Accepted + v.Rejected
	switch {
	case ran == 0:
		v.Status = SubmissionError
		return v
	case v.Accepted*2 > ran:
		v.Status = SubmissionAccepted
	default:
		v.Status = SubmissionRejected
	}
	if v.Accepted > 0 && v.Rejected > 0 {
		v.Disputed = true
		v.DisputeReason = fmt.Sprintf("%d accepted and %d rejected", v.Accepted, v.Rejected)
	}
	if t.Kind != TaskMetric || v.Status != SubmissionAccepted {
		return v
	}
	values := map[string][]float64{}
	for _, r := range results {
		if r.Status != ResultAccepted {
			continue
		}
		for k, x := range r.ObservedMetrics {
			values[k] = append(values[k], x)
		}
	}
	v.Metrics = map[string]float64{}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		xs := values[k]
		m := Median(xs)
		v.Metrics[k] = m
		if k != t.MetricName && k != t.SecondaryMetricName {
			continue
		}
		lo, hi := minMax(xs)
		if spread := hi - lo; spread > t.Tolerance*math.Max(math.Abs(m), 1e-12) && len(xs) > 1 {
			v.Disputed = true
			v.DisputeReason = joinReason(v.DisputeReason,
				fmt.Sprintf("%s spread %.6g over median %.6g exceeds tolerance %.3g", k, spread, m, t.Tolerance))
		}
	}
	if _, ok := v.Metrics[t.MetricName]; !ok {
		// Accepting results that do not carry the task's metric cannot
		// place the submission: that is an error, not a score.
		v.Status = SubmissionError
		v.DisputeReason = joinReason(v.DisputeReason, "accepting results lack metric "+t.MetricName)
	}
	return v
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// Median returns the median of xs (the mean of the middle two for an even
// count); xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func minMax(xs []float64) (float64, float64) {
	lo, hi := xs[0], xs[0]
	for _, x := range xs[1:] {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

// JobFilter selects jobs.
type JobFilter struct {
	SubmissionID *string
	Validator    *string
	Status       *string
	Offset       int
	Limit        int
}

// JobService hands replays to validators and records what they saw.
type JobService interface {
	PeerService
	// LeaseJobs atomically leases up to Max queued (or lease-expired)
	// jobs to the validator, never two of the same submission and never
	// one whose submission it already replayed. Concurrent callers never
	// get the same job.
	LeaseJobs(ctx context.Context, req LeaseRequest) ([]*Lease, error)
	// RenewLease extends a held lease. ENOTFOUND, EFORBIDDEN (held by
	// another validator), ECONFLICT (no longer leased).
	RenewLease(ctx context.Context, jobID, validator string, ttl time.Duration) (*Job, error)
	// ReleaseJob gives a held job back to the queue without a result.
	ReleaseJob(ctx context.Context, jobID, validator string) (*Job, error)
	// RecordResult stores a validator's result for a job it leased, with
	// the full log under its hash, and the verdict if this result
	// completes the quorum, all in one transaction. Idempotent: the same
	// result again returns created false; a different one is ECONFLICT.
	RecordResult(ctx context.Context, r *Result, log []byte) (stored *Result, created bool, err error)
	// RecordPeerEvaluation stores a miner's evaluation of another's
	// submission on a peer_evaluation task and finalizes the verdict at
	// the task's minimum, or once every assigned evaluator answered.
	// EFORBIDDEN for a miner the coordinator did not assign (see
	// PeerService), ECONFLICT for a second evaluation by the same miner.
	RecordPeerEvaluation(ctx context.Context, r *Result) (*Result, error)
	FindJobs(ctx context.Context, f JobFilter) ([]*Job, int, error)
	FindResults(ctx context.Context, submissionID string) ([]*Result, error)
	// FindBlob returns stored bytes (a full replay log) by SHA-256. ENOTFOUND.
	FindBlob(ctx context.Context, hash string) ([]byte, error)
}

// Event types sent on the event stream.
const (
	EventTaskCreated  = "task.created"
	EventJobAvailable = "job.available"
	EventVerdict      = "verdict"
	EventAgent        = "agent" // an agent version was uploaded or changed stage
)

// Event is one entry of the coordinator's event log.
type Event struct {
	ID        int64           `json:"id"`
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// EventService reads the event log.
type EventService interface {
	// FindEvents returns up to limit events with an id above after.
	FindEvents(ctx context.Context, after int64, limit int) ([]*Event, error)
}

// NonceService remembers signed-request nonces for replay protection.
type NonceService interface {
	// Seen records (signer, nonce) until expires and reports whether it
	// was new. Expired entries may be forgotten.
	Seen(ctx context.Context, signer, nonce string, expires time.Time) (fresh bool, err error)
}

// Reason classes: the small, fixed vocabulary a miner and the public see
// instead of a result's reason on a sealed task (see Sealed). ReasonClass
// computes them; nothing else is shown there.
const (
	ReasonTestsFailed    = "tests_failed"    // replayed; the tests did not pass
	ReasonPatchRefused   = "patch_refused"   // the patch broke a rule or did not apply
	ReasonRunnerTampered = "runner_tampered" // the patch reached into the test runner
	ReasonTimeout        = "timeout"         // the run went past its budget
	ReasonAgentFailed    = "agent_failed"    // the agent crashed or returned no usable patch
	ReasonRejected       = "rejected"        // replayed and not good, for another reason
	ReasonError          = "error"           // the replay could not produce an answer
)

// ReasonClass returns a result's reason class: "" for an accepted result,
// else one of the Reason constants. It reads the validator's structured
// fields first (the agent's error kind), then the prefixes the validator
// writes its reasons with (harness error kinds, "not resolved").
func ReasonClass(r *Result) string {
	if r.Status == ResultAccepted {
		return ""
	}
	reason := strings.ToLower(r.Reason)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(reason, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("tamper", "canary", "runner guard"):
		return ReasonRunnerTampered
	case strings.HasPrefix(reason, "not resolved"):
		return ReasonTestsFailed
	case r.Agent != nil && r.Agent.ErrorKind == AgentTimeout:
		return ReasonTimeout
	case (r.Agent != nil && r.Agent.ErrorKind != "") || strings.HasPrefix(reason, "agent"):
		return ReasonAgentFailed
	case strings.HasPrefix(reason, "timeout") || has("timed out", "time budget"):
		return ReasonTimeout
	case r.Status == ResultError:
		return ReasonError
	case has("patch_refused", "patch_apply_failed", "refused", "does not apply", "artifact:"):
		return ReasonPatchRefused
	case len(r.Tests) > 0:
		return ReasonTestsFailed
	}
	return ReasonRejected
}

// Sealed reports whether miners and the public see only the status and
// reason class of a task's grading: a hidden task, or one whose grading
// runs with a validator-only environment (patched code can print it).
func Sealed(t *Task) bool {
	return t.Visibility == VisibilityHidden || len(t.ValidatorEnv) > 0
}

// Redacted returns what a miner and the public may see of a result on a
// sealed task: who replayed it, when, the status and the reason class. No
// test names, log, notes, observed metrics, duration or agent output.
func (r *Result) Redacted() *Result {
	return &Result{JobID: r.JobID, SubmissionID: r.SubmissionID, Validator: r.Validator, Status: r.Status,
		Reason: ReasonClass(r), Peer: r.Peer, CreatedAt: r.CreatedAt}
}

// Redacted returns what a miner and the public may see of a verdict on a
// sealed task t: the counts and, for a metric task, only the metrics the
// task is ranked on (patched code chooses the other names).
func (v *Verdict) Redacted(t *Task) *Verdict {
	c := *v
	c.DisputeReason = ""
	c.Metrics = nil
	for _, k := range []string{t.MetricName, t.SecondaryMetricName} {
		if x, ok := v.Metrics[k]; ok && k != "" {
			if c.Metrics == nil {
				c.Metrics = map[string]float64{}
			}
			c.Metrics[k] = x
		}
	}
	return &c
}

// Assignment names a miner the coordinator chose to evaluate another's
// submission on a peer_evaluation task. Evaluators never choose
// themselves.
type Assignment struct {
	SubmissionID string    `json:"submission_id"`
	TaskID       string    `json:"task_id"`
	Evaluator    string    `json:"evaluator_hotkey"`
	Done         bool      `json:"done"`
	CreatedAt    time.Time `json:"created_at"`
	// Submission is what the evaluator replays, patch included; the API
	// fills it in for the evaluator.
	Submission *Submission `json:"submission,omitempty"`
}

// AssignmentFilter selects assignments.
type AssignmentFilter struct {
	Evaluator    *string
	SubmissionID *string
	Done         *bool
	Offset       int
	Limit        int
}

// ChooseEvaluators picks n evaluators for a submission among the
// registered miners other than the submitter, deterministically: each
// candidate is ranked by SHA-256(seed, hotkey) (rendezvous hashing, so a
// change to the registered set moves few choices) and the first n win.
// EUNAVAILABLE when fewer than n candidates exist.
func ChooseEvaluators(seed, submitter string, registered []string, n int) ([]string, error) {
	seen := map[string]bool{submitter: true}
	type cand struct{ hotkey, rank string }
	var cands []cand
	for _, h := range registered {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		cands = append(cands, cand{h, SHA256Hex([]byte(seed + "\x00" + h))})
	}
	if n < 1 || len(cands) < n {
		return nil, Errorf(EUNAVAILABLE, "peer evaluation needs %d registered miners besides the submitter; %d are registered", n, len(cands))
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].rank < cands[j].rank })
	out := make([]string, n)
	for i := range out {
		out[i] = cands[i].hotkey
	}
	return out, nil
}

// PeerService assigns evaluators on peer_evaluation tasks. Evaluations
// themselves are recorded by JobService.RecordPeerEvaluation, which takes
// them only from assigned evaluators.
type PeerService interface {
	// AssignEvaluators fixes the evaluators of a peer_evaluation
	// submission: the first call chooses the task's minimum number among
	// registered with ChooseEvaluators (seeded by the submission) and
	// stores them; later calls return the stored choice. ENOTFOUND,
	// EINVALID (not a peer_evaluation task), ECONFLICT (already decided),
	// EUNAVAILABLE (too few registered miners).
	AssignEvaluators(ctx context.Context, submissionID string, registered []string) ([]*Assignment, error)
	// FindAssignments returns a page of assignments, oldest first.
	FindAssignments(ctx context.Context, f AssignmentFilter) ([]*Assignment, int, error)
	// UnassignedPeerSubmissions returns up to limit undecided
	// peer_evaluation submissions that have no evaluators yet, oldest
	// first.
	UnassignedPeerSubmissions(ctx context.Context, limit int) ([]string, error)
}
