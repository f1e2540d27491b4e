package swebench

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/grading"
)

// Names SWE-bench uses for its log tree.
const (
	// RunEvaluationLogDir is where per-instance logs go, relative to the
	// working directory: <RunEvaluationLogDir>/<run_id>/<model dir>/<id>/.
	RunEvaluationLogDir = "logs/run_evaluation"
	// LogReport is the per-instance report's file name.
	LogReport = "report.json"
	// RunReportSchemaVersion is the run report's schema_version.
	RunReportSchemaVersion = 2
)

// InstanceReport is the value SWE-bench writes under the instance id in
// report.json (the file is {"<instance_id>": <InstanceReport>}). Field order
// is SWE-bench v5's.
type InstanceReport struct {
	// PatchIsNone is true when the prediction's model_patch was null; the
	// report then stops there.
	PatchIsNone bool `json:"patch_is_None"`
	// PatchExists is true when model_patch was not null.
	PatchExists bool `json:"patch_exists"`
	// PatchSuccessfullyApplied is true when the log held parseable test
	// output (SWE-bench derives it from the log, not from the apply step).
	PatchSuccessfullyApplied bool `json:"patch_successfully_applied"`
	// Resolved is true only for SWE-bench's RESOLVED_FULL.
	Resolved bool `json:"resolved"`
	// InfraFailure (v5, advisory) is true when the log looks like an
	// environment fault rather than the patch's.
	InfraFailure bool `json:"infra_failure"`
	// InfraFailureReason (v5) says why, when a cause was recognised.
	InfraFailureReason string `json:"infra_failure_reason,omitempty"`
	// TestsStatus is present once the patch applied and the log parsed;
	// it is the grader's own (grading.TestsStatus), which writes nil test
	// lists as [] the way SWE-bench does.
	TestsStatus *grading.TestsStatus `json:"tests_status,omitempty"`
}

// Encode returns report.json's content for instance id, byte for byte as
// SWE-bench writes it (json.dumps(report, indent=4), no final newline).
// Nil test lists are written as [].
func (r InstanceReport) Encode(id string) ([]byte, error) {
	data, err := json.Marshal(map[string]InstanceReport{id: r})
	if err != nil {
		return nil, err
	}
	return pythonJSON(data, 4)
}

// ParseInstanceReport decodes report.json's content for instance id.
func ParseInstanceReport(id string, data []byte) (InstanceReport, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return InstanceReport{}, agora.Errorf(agora.EINVALID, "report: invalid JSON: %s", jsonMessage(err))
	}
	raw, ok := m[id]
	if !ok {
		return InstanceReport{}, agora.Errorf(agora.EINVALID, "report: no entry for %s", strconv.Quote(id))
	}
	var r InstanceReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return InstanceReport{}, agora.Errorf(agora.EINVALID, "report: %s", jsonMessage(err))
	}
	return r, nil
}

// Outcome is what the run left for one instance, the input of the run
// report. SWE-bench reads it from the instance's report.json.
type Outcome struct {
	// HasReport is true when report.json exists: the instance is then
	// "completed", even if the file turns out to be unusable.
	HasReport bool
	// Valid is true when report.json held {"<id>": {"resolved": …}}. An
	// existing but invalid report counts as both completed and an error, as
	// in SWE-bench.
	Valid bool
	// Resolved is the report's verdict.
	Resolved bool
	// FailureReason is a log classifier's reason for an unresolved or
	// failed instance ("" when none applies); SWE-bench v5 lists it in
	// failure_reasons.
	FailureReason string
	// EnvironmentFault places an instance with a FailureReason in
	// infra_failure_ids (the classifier's "environment" tier) rather than
	// ambiguous_failure_ids.
	EnvironmentFault bool
}

// OutcomeFromReport reads report.json's content the way make_run_report
// does: blank content, invalid JSON, or no <id>.resolved make it invalid;
// resolved follows Python truthiness.
func OutcomeFromReport(id string, data []byte) Outcome {
	o := Outcome{HasReport: true}
	if strings.TrimFunc(string(data), unicode.IsSpace) == "" {
		return o
	}
	// Decode level by level: a sibling member of another type must not
	// spoil the instance's entry, as it does not in Python.
	var top map[string]json.RawMessage
	var entry map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil || json.Unmarshal(top[id], &entry) != nil {
		return o
	}
	raw, ok := entry["resolved"]
	if !ok {
		return o
	}
	o.Valid = true
	o.Resolved = truthy(raw)
	return o
}

// ReadOutcome reads the report at path (see InstanceLogDir) for instance
// id. A missing file is not an error: it gives the zero Outcome.
func ReadOutcome(path, id string) (Outcome, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Outcome{}, nil
	} else if err != nil {
		return Outcome{}, err
	}
	return OutcomeFromReport(id, data), nil
}

// truthy is Python's bool() of a decoded JSON value.
func truthy(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	switch t := v.(type) {
	case bool:
		return t
	case float64:
		return t != 0
	case string:
		return t != ""
	case []any:
		return len(t) > 0
	case map[string]any:
		return len(t) > 0
	}
	return false
}

// RunReport is SWE-bench's final run report, schema_version 2, with the
// fields v5 writes, in v5's order.
type RunReport struct {
	TotalInstances            int               `json:"total_instances"`
	SubmittedInstances        int               `json:"submitted_instances"`
	CompletedInstances        int               `json:"completed_instances"`
	ResolvedInstances         int               `json:"resolved_instances"`
	UnresolvedInstances       int               `json:"unresolved_instances"`
	InfraFailureInstances     int               `json:"infra_failure_instances"`
	AmbiguousFailureInstances int               `json:"ambiguous_failure_instances"`
	EmptyPatchInstances       int               `json:"empty_patch_instances"`
	ErrorInstances            int               `json:"error_instances"`
	CompletedIDs              []string          `json:"completed_ids"`
	IncompleteIDs             []string          `json:"incomplete_ids"`
	EmptyPatchIDs             []string          `json:"empty_patch_ids"`
	SubmittedIDs              []string          `json:"submitted_ids"`
	ResolvedIDs               []string          `json:"resolved_ids"`
	UnresolvedIDs             []string          `json:"unresolved_ids"`
	InfraFailureIDs           []string          `json:"infra_failure_ids"`
	AmbiguousFailureIDs       []string          `json:"ambiguous_failure_ids"`
	FailureReasons            map[string]string `json:"failure_reasons"`
	ErrorIDs                  []string          `json:"error_ids"`
	SchemaVersion             int               `json:"schema_version"`
	// DockerLeftovers is written only when set; SWE-bench v5 writes it when
	// it has a Docker client.
	*DockerLeftovers
}

// DockerLeftovers are the run report's fields about containers and images
// that outlived the run.
type DockerLeftovers struct {
	UnstoppedInstances  int      `json:"unstopped_instances"`
	UnstoppedContainers []string `json:"unstopped_containers"`
	UnremovedImages     []string `json:"unremoved_images"`
}

// BuildRunReport counts a run the way SWE-bench's make_run_report does.
// For each instance of the dataset, in order of precedence:
//   - no prediction: incomplete;
//   - an empty patch ("" or null): empty patch, never run;
//   - a report.json (Outcome.HasReport): completed, and then resolved or
//     unresolved by its verdict, or an error too if the report is unusable;
//   - otherwise: an error (the patch did not apply, the tests timed out, the
//     environment failed, …).
//
// submitted_instances is len(preds), whether or not each id is in
// instances. Unresolved and error instances with a FailureReason are also
// listed as infra or ambiguous failures; those lists are additive and change
// no other count. Every id list is sorted and non-nil.
func BuildRunReport(instances []Instance, preds map[string]Prediction, outcomes map[string]Outcome) *RunReport {
	var completed, incomplete, empty, resolved, unresolved, infra, ambiguous, errs []string
	reasons := map[string]string{}
	seen := make(map[string]bool, len(instances))
	for _, in := range instances {
		id := in.InstanceID
		if seen[id] {
			continue // SWE-bench uses sets
		}
		seen[id] = true
		p, ok := preds[id]
		if !ok {
			incomplete = append(incomplete, id)
			continue
		}
		if p.IsEmpty() {
			empty = append(empty, id)
			continue
		}
		o := outcomes[id]
		failed := true
		switch {
		case !o.HasReport:
			errs = append(errs, id)
		case !o.Valid:
			completed = append(completed, id)
			errs = append(errs, id)
		case o.Resolved:
			completed = append(completed, id)
			resolved = append(resolved, id)
			failed = false
		default:
			completed = append(completed, id)
			unresolved = append(unresolved, id)
		}
		if failed && o.FailureReason != "" {
			reasons[id] = o.FailureReason
			if o.EnvironmentFault {
				infra = append(infra, id)
			} else {
				ambiguous = append(ambiguous, id)
			}
		}
	}
	submitted := make([]string, 0, len(preds))
	for id := range preds {
		submitted = append(submitted, id)
	}
	return &RunReport{
		TotalInstances:            len(instances),
		SubmittedInstances:        len(preds),
		CompletedInstances:        len(completed),
		ResolvedInstances:         len(resolved),
		UnresolvedInstances:       len(unresolved),
		InfraFailureInstances:     len(infra),
		AmbiguousFailureInstances: len(ambiguous),
		EmptyPatchInstances:       len(empty),
		ErrorInstances:            len(errs),
		CompletedIDs:              sorted(completed),
		IncompleteIDs:             sorted(incomplete),
		EmptyPatchIDs:             sorted(empty),
		SubmittedIDs:              sorted(submitted),
		ResolvedIDs:               sorted(resolved),
		UnresolvedIDs:             sorted(unresolved),
		InfraFailureIDs:           sorted(infra),
		AmbiguousFailureIDs:       sorted(ambiguous),
		FailureReasons:            reasons,
		ErrorIDs:                  sorted(errs),
		SchemaVersion:             RunReportSchemaVersion,
	}
}

func sorted(ids []string) []string {
	ids = nonNil(ids)
	sort.Strings(ids)
	return ids
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Encode returns the run report's file content byte for byte as SWE-bench
// writes it (print(json.dumps(report, indent=4), file=f): Python's
// formatting and a final newline). Nil lists are written as [].
func (r *RunReport) Encode() ([]byte, error) {
	c := *r
	for _, l := range []*[]string{&c.CompletedIDs, &c.IncompleteIDs, &c.EmptyPatchIDs, &c.SubmittedIDs,
		&c.ResolvedIDs, &c.UnresolvedIDs, &c.InfraFailureIDs, &c.AmbiguousFailureIDs, &c.ErrorIDs} {
		*l = nonNil(*l)
	}
	if c.FailureReasons == nil {
		c.FailureReasons = map[string]string{}
	}
	if d := c.DockerLeftovers; d != nil {
		dc := *d
		dc.UnstoppedContainers = nonNil(dc.UnstoppedContainers)
		dc.UnremovedImages = nonNil(dc.UnremovedImages)
		c.DockerLeftovers = &dc
	}
	data, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	out, err := pythonJSON(data, 4)
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// CheckRunID reports whether runID can name the run: it becomes a directory
// of the log tree and part of the report's file name (and, in SWE-bench, of
// container names), so it is held to the rule of instance ids: an ASCII
// letter or digit, then letters, digits, '.', '_' or '-', at most 128 bytes.
func CheckRunID(runID string) error {
	if runID == "" {
		return agora.Errorf(agora.EINVALID, "empty run id")
	}
	if len(runID) > 128 {
		return agora.Errorf(agora.EINVALID, "run id longer than 128 bytes")
	}
	if CheckInstanceID(runID) != nil {
		return agora.Errorf(agora.EINVALID, "run id %s must be an ASCII letter or digit followed by letters, digits, '.', '_' or '-'", strconv.Quote(runID))
	}
	return nil
}

// RunReportFileName returns the run report's file name:
// "<model with / → __>.<run_id>.json". SWE-bench takes the model of the
// first prediction in the file.
func RunReportFileName(model, runID string) string {
	return ModelDir(model) + "." + runID + ".json"
}

// InstanceLogDir returns an instance's log directory relative to the
// working directory: logs/run_evaluation/<run_id>/<model dir>/<instance_id>.
// It does not validate its arguments; see CheckRunID, CheckModelName and
// CheckInstanceID.
func InstanceLogDir(runID, model, instanceID string) string {
	return filepath.Join(RunEvaluationLogDir, runID, ModelDir(model), instanceID)
}

// WriteRunReport writes r to dir/RunReportFileName(model, runID) atomically
// and returns the path. It refuses a run id or model name that could not
// name a file safely.
func WriteRunReport(dir, model, runID string, r *RunReport) (string, error) {
	if err := CheckRunID(runID); err != nil {
		return "", err
	}
	if err := CheckModelName(model); err != nil {
		return "", err
	}
	data, err := r.Encode()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, RunReportFileName(model, runID))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return path, WriteFileAtomic(path, data)
}
