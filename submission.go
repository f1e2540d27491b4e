package agora

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Claim states.
const (
	ClaimActive    = "active"
	ClaimSubmitted = "submitted"
	ClaimCancelled = "cancelled"
	ClaimExpired   = "expired"
)

// DefaultClaimTTL is how long a claim holds a task, as BitSota's (45 min).
const DefaultClaimTTL = 45 * time.Minute

// Claim is a miner's announced intent to work on a task.
type Claim struct {
	ID          string    `json:"id"`
	TaskID      string    `json:"task_id"`
	Miner       string    `json:"miner_hotkey"`
	Description string    `json:"claim_description"`
	Status      string    `json:"status"`
	ExpiresAt   time.Time `json:"expires_at"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// ClaimFilter selects claims.
type ClaimFilter struct {
	ID     *string
	TaskID *string
	Miner  *string
	Status *string
	Offset int
	Limit  int
}

// Submission states. A submission is pending until its verdict.
const (
	SubmissionPending  = "pending_verification"
	SubmissionAccepted = "accepted"
	SubmissionRejected = "rejected"
	SubmissionError    = "error"
	// SubmissionHeld is a submission the tampering scan held for its
	// task's owner (the task's tamper policy is hold): no job exists until
	// the owner releases it, or it is rejected.
	SubmissionHeld = "held"
)

// Decisions on a held submission.
const (
	HoldReleased = "released"
	HoldRejected = "rejected"
)

// TamperFinding is one finding of the static tampering scan
// (patch.Finding), as a held submission records it.
type TamperFinding struct {
	Path string `json:"path"`
	Line int    `json:"line"`
	Rule string `json:"rule"`
	Text string `json:"text,omitempty"`
}

// String returns "path:line rule".
func (f TamperFinding) String() string { return fmt.Sprintf("%q:%d %s", f.Path, f.Line, f.Rule) }

// Hold records why a submission was held and what its task's owner
// decided.
type Hold struct {
	Findings  []TamperFinding `json:"findings"`
	Decision  string          `json:"decision,omitempty"` // "", HoldReleased or HoldRejected
	DecidedBy string          `json:"decided_by,omitempty"`
	DecidedAt *time.Time      `json:"decided_at,omitempty"`
}

// Artifact is a file a submission points to; the coordinator keeps only its
// address and integrity data, never the bytes.
type Artifact struct {
	URI    string `json:"artifact_uri"`
	SHA256 string `json:"artifact_sha256"`
	Size   int64  `json:"artifact_size_bytes"`
}

// Submission is a miner's patch and/or artifact for a task, with the verdict
// once validators have replayed it.
type Submission struct {
	ID             string             `json:"id"`
	TaskID         string             `json:"task_id"`
	ClaimID        string             `json:"claim_id,omitempty"`
	Miner          string             `json:"miner_hotkey"`
	ClientKey      string             `json:"client_key,omitempty"`
	BaseRef        string             `json:"base_ref"`
	Patch          string             `json:"patch,omitempty"`
	PatchSHA256    string             `json:"patch_sha256,omitempty"`
	Summary        string             `json:"summary,omitempty"`
	ClaimedMetrics map[string]float64 `json:"claimed_metrics,omitempty"`
	ProposedIdea   string             `json:"proposed_idea,omitempty"`
	ImplementedID  string             `json:"implemented_submission_id,omitempty"`
	// AgentID marks a league job: the agent version whose run on the task
	// this is. The coordinator creates these; miners cannot.
	AgentID string `json:"agent_id,omitempty"`
	// TamperPolicy is the tamper policy the coordinator resolved for this
	// submission (Task.EffectiveTamperPolicy), frozen into its replay spec.
	TamperPolicy string `json:"tamper_policy,omitempty"`
	// Hold is set on a submission the tampering scan held.
	Hold *Hold `json:"hold,omitempty"`
	*Artifact
	ReplaySpecHash string    `json:"replay_spec_hash"`
	Status         string    `json:"status"`
	Verdict        *Verdict  `json:"verdict,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// SubmissionFilter selects submissions.
type SubmissionFilter struct {
	TaskID *string
	Miner  *string
	Status *string
	// SpecHash selects the submissions frozen into one replay spec (the
	// same patch on the same task, submitted more than once).
	SpecHash *string
	// Newest lists newest first (the default is oldest first).
	Newest bool
	Offset int
	Limit  int
}

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// MaxArtifactBytes bounds a declared artifact size (64 GiB), and any
// task's own cap.
const MaxArtifactBytes = 64 << 30

// DefaultMaxArtifactBytes caps a declared artifact size on a task that sets
// no cap of its own (4 GiB): what a validator downloads and keeps per
// submission.
const DefaultMaxArtifactBytes = 4 << 30

// ArtifactLimit is the largest artifact t accepts.
func (t *Task) ArtifactLimit() int64 {
	if t.MaxArtifactBytes > 0 {
		return min(t.MaxArtifactBytes, MaxArtifactBytes)
	}
	return DefaultMaxArtifactBytes
}

// ArtifactLimit is the largest artifact the spec's task accepts; specs
// frozen before tasks had a cap get the default.
func (r *ReplaySpec) ArtifactLimit() int64 {
	if r.MaxArtifactBytes > 0 {
		return min(r.MaxArtifactBytes, MaxArtifactBytes)
	}
	return DefaultMaxArtifactBytes
}

// ValidateSubmission checks a submission against its task before anything is
// stored: EINVALID naming the field, ETOOLARGE for a patch over the task's
// cap, EUNPROCESSABLE for a base ref other than the task's pinned commit.
func ValidateSubmission(s *Submission, t *Task) error {
	bad := func(field, format string, args ...any) error {
		return Errorf(EINVALID, "%s: %s", field, fmt.Sprintf(format, args...))
	}
	if s.Patch == "" && s.Artifact == nil {
		return bad("patch", "a patch or an artifact_uri is required")
	}
	if len(s.Patch) > t.MaxPatchBytes {
		return Errorf(ETOOLARGE, "patch: %d bytes, the task allows at most %d", len(s.Patch), t.MaxPatchBytes)
	}
	if s.BaseRef != "" && s.BaseRef != t.BaseRef {
		return Errorf(EUNPROCESSABLE, "base_ref: %q is not the task's pinned commit %s", s.BaseRef, t.BaseRef)
	}
	if t.Kind == TaskSWE && s.Artifact != nil {
		return bad("artifact_uri", "swe tasks take a patch only")
	}
	if t.CompetitionMode == ModeCenterless && s.ProposedIdea == "" {
		return bad("proposed_idea", "required on centerless tasks")
	}
	if len(s.Summary) > 20000 {
		return bad("summary", "at most 20000 characters")
	}
	if len(s.ClientKey) > 128 {
		return bad("client_key", "at most 128 characters")
	}
	if a := s.Artifact; a != nil {
		u, err := url.Parse(a.URI)
		switch {
		case err != nil || u.Scheme != "https" || u.Host == "":
			return bad("artifact_uri", "must be an https URL")
		case !sha256RE.MatchString(a.SHA256):
			return bad("artifact_sha256", "must be 64 lower-case hex characters")
		case a.Size <= 0 || a.Size > MaxArtifactBytes:
			return bad("artifact_size_bytes", "must be 1-%d", int64(MaxArtifactBytes))
		case a.Size > t.ArtifactLimit():
			return Errorf(ETOOLARGE, "artifact_size_bytes: %d bytes, the task allows at most %d", a.Size, t.ArtifactLimit())
		}
	}
	return nil
}

// ReplaySpecVersion names the replay spec format; a change to its meaning
// gets a new version so old hashes keep their meaning.
const ReplaySpecVersion = "agora-replay-v1"

// ReplaySpec is the frozen recipe a validator executes for one submission.
// It is stored under the SHA-256 of its JSON encoding, so anyone holding the
// spec can check it is the one the verdict was reached on.
type ReplaySpec struct {
	Version           string    `json:"version"`
	TaskID            string    `json:"task_id"`
	Kind              string    `json:"kind"`
	Repository        string    `json:"repository"`
	BaseCommit        string    `json:"base_commit_sha"`
	Environment       string    `json:"environment,omitempty"`
	TimeBudgetSeconds int       `json:"time_budget_seconds"`
	AllowedPatchPaths []string  `json:"allowed_patch_paths,omitempty"`
	MaxPatchBytes     int       `json:"max_patch_bytes"`
	Patch             string    `json:"patch"`
	Artifact          *Artifact `json:"artifact,omitempty"`
	// MaxArtifactBytes is the task's artifact cap, frozen with specs that
	// carry an artifact.
	MaxArtifactBytes int64 `json:"max_artifact_bytes,omitempty"`

	SWE *SWESpec `json:"swe,omitempty"`
	// Agent makes the job an agent run: the patch comes from the agent.
	Agent *AgentRun `json:"agent,omitempty"`
	// TamperPolicy is what a tampering finding does on the validator
	// (TamperReject or TamperHold, as resolved when the spec was frozen):
	// the harness applies it to an agent's patch, which no coordinator
	// scanned. Empty (specs frozen before it existed) means reject.
	TamperPolicy string `json:"tamper_policy,omitempty"`

	MetricContract
	ValidatorEnv map[string]string `json:"validator_benchmark_env,omitempty"`
}

// NewReplaySpec freezes what a validator needs to replay s on t. The gold
// patch is left out: grading never needs it.
func NewReplaySpec(t *Task, s *Submission) *ReplaySpec {
	r := &ReplaySpec{
		Version: ReplaySpecVersion, TaskID: t.ID, Kind: t.Kind, Repository: t.Repository,
		BaseCommit: t.BaseRef, Environment: t.Environment, TimeBudgetSeconds: t.TimeBudgetSeconds,
		AllowedPatchPaths: t.AllowedPatchPaths, MaxPatchBytes: t.MaxPatchBytes,
		Patch: s.Patch, Artifact: s.Artifact,
		MetricContract: t.MetricContract, ValidatorEnv: t.ValidatorEnv,
	}
	if s.Artifact != nil {
		r.MaxArtifactBytes = t.ArtifactLimit()
	}
	// A submission the coordinator did not resolve (league jobs, local
	// checks) gets the task's policy with its results taken as paid: the
	// strict default.
	r.TamperPolicy = s.TamperPolicy
	if r.TamperPolicy == "" {
		r.TamperPolicy = t.EffectiveTamperPolicy(true)
	}
	if t.SWE != nil {
		s := *t.SWE
		s.GoldPatch = ""
		r.SWE = &s
	}
	return r
}

// Encode returns the spec's canonical bytes and their SHA-256 in hex.
// encoding/json writes struct fields in order and map keys sorted, so the
// same spec always gives the same bytes.
func (r *ReplaySpec) Encode() ([]byte, string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:]), nil
}

// IsSHA256Hex reports whether s is 64 lower-case hex digits, a SHA-256
// as this package writes them.
func IsSHA256Hex(s string) bool { return sha256RE.MatchString(s) }

// SHA256Hex returns the lower-case hex SHA-256 of b.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// SubmissionService manages claims and submissions.
type SubmissionService interface {
	// CreateClaim holds a task for a miner. ENOTFOUND task, EINVALID
	// task not live, ECONFLICT when the miner already holds an active
	// claim on it.
	CreateClaim(ctx context.Context, c *Claim) error
	// CancelClaim cancels the miner's active claim. ENOTFOUND,
	// EFORBIDDEN (another miner's), ECONFLICT (not active).
	CancelClaim(ctx context.Context, id, miner string) (*Claim, error)
	FindClaims(ctx context.Context, f ClaimFilter) ([]*Claim, int, error)
	// CreateSubmission stores s, its frozen replay spec and its jobs, in
	// one transaction. With a client key it is idempotent: the same key
	// and the same content return the stored submission and created
	// false; the same key with other content is ECONFLICT.
	CreateSubmission(ctx context.Context, s *Submission) (created bool, err error)
	// FindSubmissionByID returns ENOTFOUND for an unknown id.
	FindSubmissionByID(ctx context.Context, id string) (*Submission, error)
	FindSubmissions(ctx context.Context, f SubmissionFilter) ([]*Submission, int, error)
	// FindReplaySpec returns a stored spec's bytes by hash. ENOTFOUND.
	FindReplaySpec(ctx context.Context, hash string) ([]byte, error)
	// ReleaseSubmission queues the jobs of a held submission and records
	// who released it. Idempotent: a released submission is returned as
	// it is. ENOTFOUND, ECONFLICT (never held, or rejected).
	ReleaseSubmission(ctx context.Context, id, by string) (*Submission, error)
	// RejectHeldSubmission rejects a held submission: its verdict is
	// rejected, with no result. Idempotent likewise. ENOTFOUND, ECONFLICT
	// (never held, or released).
	RejectHeldSubmission(ctx context.Context, id, by string) (*Submission, error)
}
