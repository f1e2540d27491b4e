// Package grading decides whether a SWE-bench instance is resolved, from the
// statuses a logparse parser read out of its test log, with the rules of
// SWE-bench v5's grading.py.
//
// Grade first checks that the log can be trusted at all (InvalidLogError),
// then sorts every expected test into success or failure and derives the
// resolution: RESOLVED_FULL when no FAIL_TO_PASS and no PASS_TO_PASS test
// failed, RESOLVED_PARTIAL when some but not all FAIL_TO_PASS tests passed
// and no PASS_TO_PASS test failed, RESOLVED_NO otherwise. Only FULL counts
// as resolved.
package grading

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/agoranet/agora/logparse"
)

// EvalType selects how a test's status is graded; it is the eval_type field
// of a v5 instance.
type EvalType string

const (
	// PassAndFail is the default: a test succeeds only if it is reported
	// passing, and a missing test fails.
	PassAndFail EvalType = "pass_and_fail"
	// FailOnly is for runners that report only failures (SWE-bench uses it
	// for Chart.js, p5.js and marked): a test fails only if it is reported
	// exactly FAILED, and a missing test succeeds.
	FailOnly EvalType = "fail_only"
)

// Resolution is SWE-bench's ResolvedStatus.
type Resolution string

// The three resolutions. Only ResolvedFull makes an instance resolved.
const (
	ResolvedFull    Resolution = "RESOLVED_FULL"
	ResolvedPartial Resolution = "RESOLVED_PARTIAL"
	ResolvedNo      Resolution = "RESOLVED_NO"
)

// Tests splits one list of expected tests by outcome. A test the rules put
// in neither list (see Grade) is left out of both.
type Tests struct {
	Success []string `json:"success"`
	Failure []string `json:"failure"`
}

// MarshalJSON writes nil lists as [], as SWE-bench's report.json has them.
func (t Tests) MarshalJSON() ([]byte, error) {
	type plain Tests // drops this method, avoiding recursion
	if t.Success == nil {
		t.Success = []string{}
	}
	if t.Failure == nil {
		t.Failure = []string{}
	}
	return json.Marshal(plain(t))
}

// Ratio is success/(success+failure), and 1 for an empty list, as in
// SWE-bench's compute_fail_to_pass and compute_pass_to_pass.
func (t Tests) Ratio() float64 {
	total := len(t.Success) + len(t.Failure)
	if total == 0 {
		return 1
	}
	return float64(len(t.Success)) / float64(total)
}

// TestsStatus is the tests_status object of SWE-bench's report.json.
// FAIL_TO_FAIL and PASS_TO_FAIL are graded only when the input lists them;
// SWE-bench's own reports leave them empty.
type TestsStatus struct {
	FailToPass Tests `json:"FAIL_TO_PASS"`
	PassToPass Tests `json:"PASS_TO_PASS"`
	FailToFail Tests `json:"FAIL_TO_FAIL"`
	PassToFail Tests `json:"PASS_TO_FAIL"`
}

// Resolution applies SWE-bench's get_resolution_status to s. The ratio
// tests "= 1" and "0 < r < 1" are done on counts, which is what they mean.
func (s TestsStatus) Resolution() Resolution {
	f2p, p2p := s.FailToPass, s.PassToPass
	switch {
	case len(p2p.Failure) > 0:
		return ResolvedNo
	case len(f2p.Failure) == 0:
		return ResolvedFull
	case len(f2p.Success) > 0:
		return ResolvedPartial
	default:
		return ResolvedNo
	}
}

// Report is the outcome of grading one instance. Its embedded TestsStatus
// marshals to exactly report.json's tests_status object.
type Report struct {
	TestsStatus
	Resolution Resolution `json:"resolution"`
	// Resolved is true only for ResolvedFull.
	Resolved bool `json:"resolved"`
}

// ErrInvalidLog is the error InvalidLogError matches with errors.Is.
var ErrInvalidLog = errors.New("invalid test log")

// Reason says why a log was found invalid.
type Reason string

// The reasons an InvalidLogError can give.
const (
	// ReasonNoResults means the parser found no test status and nothing
	// shows a suite ran. SWE-bench treats it as a run that never happened, not a
	// clean one (under fail_only it would otherwise score as resolved).
	ReasonNoResults Reason = "no_results"
	// ReasonExitCode means the test command exited non-zero but no test is
	// FAILED or ERROR, so the log does not describe the run that happened;
	// a patch printing its own PASSED lines looks like this (SWE-bench
	// #601, #620).
	ReasonExitCode Reason = "exit_code"
	// ReasonConflict means an expected test was reported failing and then
	// passing (see Input.Conflicts). This is Agora's check; SWE-bench
	// grades such a log on the last status.
	ReasonConflict Reason = "conflict"
)

// InvalidLogError reports a log that cannot be graded. SWE-bench writes no
// report for such a log and counts the instance as an error, not as
// unresolved.
type InvalidLogError struct {
	Reason Reason
	// ExitCode is the test command's exit status, for ReasonExitCode.
	ExitCode int
	// IDs are the conflicting test ids, sorted, for ReasonConflict.
	IDs []string
}

// Error describes the reason.
func (e *InvalidLogError) Error() string {
	switch e.Reason {
	case ReasonNoResults:
		return "invalid test log: no test results and no sign the suite ran"
	case ReasonExitCode:
		return fmt.Sprintf("invalid test log: tests exited %d but none is reported FAILED or ERROR", e.ExitCode)
	case ReasonConflict:
		return fmt.Sprintf("invalid test log: failing tests later reported passing: %s", strings.Join(e.IDs, ", "))
	}
	return "invalid test log: " + string(e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidLog) true.
func (e *InvalidLogError) Unwrap() error { return ErrInvalidLog }

// Input is what Grade needs to grade one instance.
type Input struct {
	// The instance's expected tests. FailToFail and PassToFail are
	// optional.
	FailToPass, PassToPass []string
	FailToFail, PassToFail []string

	// Statuses is the parsed status map.
	Statuses logparse.Map
	// Order lists the keys of Statuses in the order the parser first
	// assigned them (logparse.Events.Keys), the iteration order of
	// SWE-bench's Python dict. It matters in one case: a truncated expected
	// id whose candidate tests agree on the outcome is graded by the first
	// candidate, and agreeing candidates can still differ (SKIPPED and
	// FAILED both fail a FAIL_TO_PASS test, but only FAILED fails a
	// PASS_TO_PASS one). Keys missing from Order follow it in sorted order;
	// nil means sorted order throughout.
	Order []string

	// ExitCode is the test command's exit status; nil if not recorded, in
	// which case the exit code check is skipped, as in SWE-bench.
	ExitCode *int
	// SuiteRan tells whether the log shows that a suite ran
	// (logparse.SuiteRan). It matters only when Statuses is empty.
	SuiteRan bool

	// Conflicts are the ids the log reported both passing and failing
	// (logparse.Events.Conflicts). By default the log is invalid only if a
	// conflict masks a failure (logparse.Conflict.Masked) of a test that is
	// graded: only that changes a verdict, and pytest legitimately prints
	// "PASSED x" then "ERROR x" for a test whose teardown fails.
	Conflicts []logparse.Conflict
	// StrictConflicts makes any conflict at all invalidate the log.
	StrictConflicts bool

	// EvalType is PassAndFail when empty.
	EvalType EvalType
}

// WithEvents returns in with Statuses, Order and Conflicts taken from ev.
func (in Input) WithEvents(ev logparse.Events) Input {
	in.Statuses = ev.Map()
	in.Order = ev.Keys()
	in.Conflicts = ev.Conflicts()
	return in
}

// Grade checks that the log is valid and grades it. The checks, in
// SWE-bench's order: an empty status map is invalid unless SuiteRan; a
// non-zero ExitCode with a non-empty map that has no FAILED or ERROR status
// is invalid; then Agora's conflict check. A failed check returns an
// *InvalidLogError.
//
// Under PassAndFail a test succeeds if its status is PASSED or XFAIL, and
// fails if it is missing, FAILED, ERROR or SKIPPED, except that a SKIPPED
// PASS_TO_PASS test succeeds (SWE-bench v5: a skip is no resolution, but no
// regression either). A status outside the five (pytest parsers keep the
// line's first word, e.g. "ERROR:") puts the test in neither list, and an
// expected id missing from the map that has more "[" than "]" (a truncated
// parametrized id, SWE-bench #290) stands for the tests it prefixes if
// they all pass or all fail. Under FailOnly a test fails only if its exact
// id is FAILED.
func Grade(in Input) (Report, error) {
	switch in.EvalType {
	case "":
		in.EvalType = PassAndFail
	case PassAndFail, FailOnly:
	default:
		return Report{}, fmt.Errorf("grading: unknown eval type %q", in.EvalType)
	}
	if err := validate(in); err != nil {
		return Report{}, err
	}

	g := &grader{sm: in.Statuses, order: in.Order}
	check, checkP2P := g.passAndFail, g.maintained
	if in.EvalType == FailOnly {
		check, checkP2P = g.failOnly, g.failOnly
	}
	var s TestsStatus
	s.FailToPass = sortTests(in.FailToPass, check)
	s.PassToPass = sortTests(in.PassToPass, checkP2P)
	// SWE-bench grades the "to fail" lists like FAIL_TO_PASS, also P2F.
	s.FailToFail = sortTests(in.FailToFail, check)
	s.PassToFail = sortTests(in.PassToFail, check)

	res := s.Resolution()
	return Report{TestsStatus: s, Resolution: res, Resolved: res == ResolvedFull}, nil
}

// validate runs the checks that make a log invalid.
func validate(in Input) error {
	if len(in.Statuses) == 0 {
		if !in.SuiteRan {
			return &InvalidLogError{Reason: ReasonNoResults}
		}
		return nil
	}
	if in.ExitCode != nil && *in.ExitCode != 0 && !anyFailing(in.Statuses) {
		return &InvalidLogError{Reason: ReasonExitCode, ExitCode: *in.ExitCode}
	}
	if ids := badConflicts(in); len(ids) > 0 {
		return &InvalidLogError{Reason: ReasonConflict, IDs: ids}
	}
	return nil
}

// anyFailing reports whether some status is exactly FAILED or ERROR.
func anyFailing(sm logparse.Map) bool {
	for _, s := range sm {
		if s.Failing() {
			return true
		}
	}
	return false
}

// badConflicts returns, sorted, the ids of the conflicts that invalidate
// the log under in's policy.
func badConflicts(in Input) []string {
	if len(in.Conflicts) == 0 {
		return nil
	}
	graded := make(map[string]bool)
	var truncated []string
	for _, list := range [][]string{in.FailToPass, in.PassToPass, in.FailToFail, in.PassToFail} {
		for _, id := range list {
			graded[id] = true
			if isTruncated(id) {
				truncated = append(truncated, id)
			}
		}
	}
	relevant := func(id string) bool {
		if graded[id] {
			return true
		}
		for _, t := range truncated {
			if strings.HasPrefix(id, t) {
				return true
			}
		}
		return false
	}
	var ids []string
	for _, c := range in.Conflicts {
		if in.StrictConflicts || (c.Masked() && relevant(c.ID)) {
			ids = append(ids, c.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// isTruncated reports whether an expected id may be a truncated
// parametrized id: it has more "[" than "]". Requiring that keeps free-form
// names (Django's, sympy's) out of prefix matching.
func isTruncated(id string) bool {
	return strings.Count(id, "[") > strings.Count(id, "]")
}

// outcome is where one check puts a test.
type outcome int

const (
	neither outcome = iota
	success
	failure
)

// sortTests applies check to each id, keeping the list's order.
func sortTests(ids []string, check func(string) outcome) Tests {
	t := Tests{Success: []string{}, Failure: []string{}}
	for _, id := range ids {
		switch check(id) {
		case success:
			t.Success = append(t.Success, id)
		case failure:
			t.Failure = append(t.Failure, id)
		}
	}
	return t
}

// grader holds one status map and answers SWE-bench's per-test questions.
type grader struct {
	sm    logparse.Map
	order []string
	keys  []string // the map's keys in grading order, built on first use
}

// resolve is SWE-bench's _resolve_case: the map key that stands for an
// expected id, if any.
func (g *grader) resolve(id string) (string, bool) {
	if _, ok := g.sm[id]; ok {
		return id, true
	}
	if !isTruncated(id) {
		return "", false
	}
	var first string
	var found, pass bool
	for _, k := range g.orderedKeys() {
		if !strings.HasPrefix(k, id) {
			continue
		}
		p := g.sm[k].Passing()
		switch {
		case !found:
			first, pass, found = k, p, true
		case p != pass:
			// The candidates disagree on the outcome: no match.
			return "", false
		}
	}
	return first, found
}

// orderedKeys returns the map's keys: those in g.order first, in that order,
// then the rest sorted.
func (g *grader) orderedKeys() []string {
	if g.keys != nil {
		return g.keys
	}
	keys := make([]string, 0, len(g.sm))
	seen := make(map[string]bool, len(g.sm))
	for _, k := range g.order {
		if _, ok := g.sm[k]; ok && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	rest := make([]string, 0, len(g.sm)-len(keys))
	for k := range g.sm {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	g.keys = append(keys, rest...)
	return g.keys
}

// status returns the status standing for an expected id.
func (g *grader) status(id string) (logparse.Status, bool) {
	k, ok := g.resolve(id)
	if !ok {
		return "", false
	}
	return g.sm[k], true
}

// passAndFail is SWE-bench's check_pass_and_fail (test_passed, then
// test_failed).
func (g *grader) passAndFail(id string) outcome {
	s, ok := g.status(id)
	switch {
	case ok && s.Passing():
		return success
	case !ok || s.Failing() || s == logparse.Skipped:
		return failure
	}
	return neither
}

// maintained is SWE-bench's check_maintained, for PASS_TO_PASS: as
// passAndFail, but SKIPPED succeeds.
func (g *grader) maintained(id string) outcome {
	if s, ok := g.status(id); ok && s == logparse.Skipped {
		return success
	}
	return g.passAndFail(id)
}

// failOnly is SWE-bench's check_fail_only. It matches the exact id only:
// SWE-bench does not apply the truncated-id rule here.
func (g *grader) failOnly(id string) outcome {
	if s, ok := g.sm[id]; ok && s == logparse.Failed {
		return failure
	}
	return success
}
