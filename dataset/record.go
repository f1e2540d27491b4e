// Package dataset publishes Agora's graded work as a public dataset in the
// Hugging Face datasets layout: data/train-NNNNN-of-NNNNN.{parquet,jsonl}
// and a README.md dataset card whose YAML front matter lists the same
// features as the files. One row is one graded submission (Record): the
// task, the patch, the verdict, per-test statuses, metrics, cost, timings,
// provenance and each validator's result.
//
// What a row may show is decided by the root's rules, not here: a task's
// Released view (hidden tasks are embargoed until they close, gold patches
// and validator-only environments never leave), and Result.Redacted and
// Verdict.Redacted for tasks graded with a validator-only environment
// (SealedOnRelease), as the API shows them to the public.
package dataset

import (
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/agoranet/agora"
)

// Record is one row of the dataset: a graded submission. The JSON and
// Parquet names are the same, and the card lists them (Features).
// NOTE: a field added here changes the dataset's schema; the card follows
// by reflection and the tests compare it with what an independent reader
// finds in the files.
type Record struct {
	SubmissionID string `json:"submission_id" parquet:"submission_id"`
	// Task: identity, kind and provenance.
	TaskID         string `json:"task_id" parquet:"task_id"`
	TaskSlug       string `json:"task_slug" parquet:"task_slug"`
	TaskTitle      string `json:"task_title" parquet:"task_title"`
	TaskKind       string `json:"task_kind" parquet:"task_kind"`
	Competition    string `json:"competition" parquet:"competition"`
	TaskSource     string `json:"task_source" parquet:"task_source"`
	TaskVisibility string `json:"task_visibility" parquet:"task_visibility"`
	TaskState      string `json:"task_state" parquet:"task_state"`
	// The problem, under SWE-bench's names where it has them.
	Repo             string   `json:"repo" parquet:"repo"`
	BaseCommit       string   `json:"base_commit" parquet:"base_commit"`
	Environment      string   `json:"environment" parquet:"environment"`
	InstanceID       string   `json:"instance_id" parquet:"instance_id"`
	ProblemStatement string   `json:"problem_statement" parquet:"problem_statement"`
	HintsText        string   `json:"hints_text" parquet:"hints_text"`
	Version          string   `json:"version" parquet:"version"`
	FailToPass       []string `json:"FAIL_TO_PASS" parquet:"FAIL_TO_PASS,list"`
	PassToPass       []string `json:"PASS_TO_PASS" parquet:"PASS_TO_PASS,list"`
	TestPatch        string   `json:"test_patch" parquet:"test_patch"`
	MetricName       string   `json:"metric_name" parquet:"metric_name"`
	MetricDirection  string   `json:"metric_direction" parquet:"metric_direction"`
	// The submission.
	MinerHotkey    string    `json:"miner_hotkey" parquet:"miner_hotkey"`
	AgentID        string    `json:"agent_id" parquet:"agent_id"`
	Patch          string    `json:"patch" parquet:"patch"`
	PatchSHA256    string    `json:"patch_sha256" parquet:"patch_sha256"`
	ReplaySpecHash string    `json:"replay_spec_hash" parquet:"replay_spec_hash"`
	SubmittedAt    time.Time `json:"submitted_at" parquet:"submitted_at,timestamp(microsecond)"`
	// The verdict.
	Verdict       string    `json:"verdict" parquet:"verdict"`
	Accepted      int32     `json:"verdict_accepted" parquet:"verdict_accepted"`
	Rejected      int32     `json:"verdict_rejected" parquet:"verdict_rejected"`
	Errors        int32     `json:"verdict_errors" parquet:"verdict_errors"`
	Disputed      bool      `json:"disputed" parquet:"disputed"`
	DisputeReason string    `json:"dispute_reason" parquet:"dispute_reason"`
	DecidedAt     time.Time `json:"decided_at" parquet:"decided_at,timestamp(microsecond)"`
	Metrics       []Metric  `json:"metrics" parquet:"metrics,list"`
	// Tests are the per-test statuses of the first result that agrees
	// with the verdict (each validator's counts are not kept apart: a
	// disagreement shows as Disputed).
	Tests []TestStatus `json:"tests" parquet:"tests,list"`
	// Cost and time: agent spend summed over the results (0 for plain
	// patches), and the median replay wall time.
	InferenceMicroUSD int64 `json:"inference_micro_usd" parquet:"inference_micro_usd"`
	EmbeddingMicroUSD int64 `json:"embedding_micro_usd" parquet:"embedding_micro_usd"`
	InferenceCalls    int64 `json:"inference_calls" parquet:"inference_calls"`
	DurationMS        int64 `json:"duration_ms" parquet:"duration_ms"`
	// Validators holds every result, oldest first.
	Validators []Validation `json:"validators" parquet:"validators,list"`
}

// Metric is one named number.
type Metric struct {
	Name  string  `json:"name" parquet:"name"`
	Value float64 `json:"value" parquet:"value"`
}

// TestStatus is one test's status as the grading log reported it
// (PASSED, FAILED, SKIPPED, ERROR, XFAIL).
type TestStatus struct {
	Name   string `json:"name" parquet:"name"`
	Status string `json:"status" parquet:"status"`
}

// Validation is one validator's (or, on peer-evaluation tasks, one
// miner's) result.
type Validation struct {
	Hotkey string `json:"hotkey" parquet:"hotkey"`
	Peer   bool   `json:"peer" parquet:"peer"`
	Status string `json:"status" parquet:"status"`
	// Reason is the validator's reason; on a sealed task only its class.
	Reason      string    `json:"reason" parquet:"reason"`
	ReasonClass string    `json:"reason_class" parquet:"reason_class"`
	Metrics     []Metric  `json:"metrics" parquet:"metrics,list"`
	DurationMS  int64     `json:"duration_ms" parquet:"duration_ms"`
	LogSHA256   string    `json:"log_sha256" parquet:"log_sha256"`
	CreatedAt   time.Time `json:"created_at" parquet:"created_at,timestamp(microsecond)"`
	// Signer and Signature are the validator's sr25519 signature over the
	// result's agora-verdict-v1 digest (hex), empty when it did not sign;
	// `agora replay` checks them.
	Signer    string `json:"signer" parquet:"signer"`
	Signature string `json:"signature" parquet:"signature"`
}

// NewRecord returns the row of a graded submission g of task t, or nil
// when t is embargoed (agora.Task.Released) or g has no verdict. Slices
// are never nil, so JSON rows carry [] rather than null.
func NewRecord(t *agora.Task, g *agora.Graded) *Record {
	pub := t.Released()
	s := g.Submission
	if pub == nil || s.Verdict == nil {
		return nil
	}
	results, verdict := g.Results, s.Verdict
	if agora.SealedOnRelease(t) {
		results = make([]*agora.Result, len(g.Results))
		for i, r := range g.Results {
			results[i] = r.Redacted()
		}
		verdict = verdict.Redacted(t)
	}
	rec := &Record{
		SubmissionID: s.ID, TaskID: pub.ID, TaskSlug: pub.Slug, TaskTitle: pub.Title, TaskKind: pub.Kind,
		Competition: pub.Competition, TaskSource: pub.Source, TaskVisibility: pub.Visibility, TaskState: pub.State,
		Repo: pub.Repository, BaseCommit: pub.BaseRef, Environment: pub.Environment,
		FailToPass: []string{}, PassToPass: []string{},
		MetricName: pub.MetricName, MetricDirection: pub.MetricDirection,
		MinerHotkey: s.Miner, AgentID: s.AgentID, Patch: s.Patch, PatchSHA256: s.PatchSHA256,
		ReplaySpecHash: s.ReplaySpecHash, SubmittedAt: s.CreatedAt.UTC(),
		Verdict: verdict.Status, Accepted: int32(verdict.Accepted), Rejected: int32(verdict.Rejected), Errors: int32(verdict.Errors),
		Disputed: verdict.Disputed, DisputeReason: verdict.DisputeReason, DecidedAt: verdict.DecidedAt.UTC(),
		Metrics: metrics(verdict.Metrics), Tests: []TestStatus{}, Validators: make([]Validation, 0, len(results)),
	}
	if w := pub.SWE; w != nil {
		rec.InstanceID, rec.ProblemStatement, rec.HintsText, rec.Version, rec.TestPatch = w.InstanceID, w.ProblemStatement, w.HintsText, w.Version, w.TestPatch
		rec.FailToPass = append(rec.FailToPass, w.FailToPass...)
		rec.PassToPass = append(rec.PassToPass, w.PassToPass...)
	}
	var durations []float64
	var chosen *agora.Result
	for _, r := range results {
		if chosen == nil && r.Status == verdict.Status {
			// Result and submission statuses share their spellings
			// (accepted, rejected, error).
			chosen = r
		}
		if r.DurationMS > 0 {
			durations = append(durations, float64(r.DurationMS))
		}
		if a := r.Agent; a != nil {
			rec.InferenceMicroUSD += a.InferenceMicroUSD
			rec.EmbeddingMicroUSD += a.EmbeddingMicroUSD
			rec.InferenceCalls += int64(a.Calls)
		}
		rec.Validators = append(rec.Validators, Validation{
			Hotkey: r.Validator, Peer: r.Peer, Status: r.Status, Reason: r.Reason, ReasonClass: agora.ReasonClass(r),
			Metrics: metrics(r.ObservedMetrics), DurationMS: r.DurationMS, LogSHA256: r.LogSHA256, CreatedAt: r.CreatedAt.UTC(),
			Signer: r.Signer, Signature: r.Signature,
		})
	}
	if chosen != nil {
		for _, name := range slices.Sorted(maps.Keys(chosen.Tests)) {
			rec.Tests = append(rec.Tests, TestStatus{Name: name, Status: chosen.Tests[name]})
		}
		if rec.Patch == "" && chosen.Agent != nil {
			// A league job's patch is what the agent returned.
			rec.Patch = chosen.Agent.Patch
		}
	}
	if rec.Patch != "" && rec.PatchSHA256 == "" {
		rec.PatchSHA256 = agora.SHA256Hex([]byte(rec.Patch))
	}
	if len(durations) > 0 {
		rec.DurationMS = int64(agora.Median(durations))
	}
	return rec
}

// metrics returns m as a list sorted by name: Hugging Face datasets reads
// lists of structs everywhere, maps not.
func metrics(m map[string]float64) []Metric {
	out := make([]Metric, 0, len(m))
	for k, v := range m {
		out = append(out, Metric{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
