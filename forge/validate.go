package forge

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/logparse"
	"github.com/agoranet/agora/swebench"
)

// Validator proves candidates by execution, in the sandbox and the
// environments `agora eval` uses.
type Validator struct {
	Evaluator *harness.Evaluator
	Envs      *harness.EnvFile
	// Runs is how many times each side runs (default 3); a test whose
	// outcome differs between runs of one side is flaky and dropped.
	Runs int
	// MaxTestTime bounds one test run (default 10m): slower tasks are
	// refused, as a validator would time them out.
	MaxTestTime time.Duration
}

// RunRecord is one validation run: the tests on the base with the test
// patch ("before") or with the gold patch too ("after").
type RunRecord struct {
	Phase    string `json:"phase"`
	Attempt  int    `json:"attempt"`
	TestMS   int64  `json:"test_ms"`
	TotalMS  int64  `json:"total_ms"`
	ExitCode int    `json:"exit_code"`
	Passed   int    `json:"passed"`
	Failed   int    `json:"failed"`
	// ErrorKind is set when the run ended without a usable log
	// (harness.ErrKind*); before the fix, an invalid log (nothing
	// collected) counts as every test failing.
	ErrorKind string `json:"error_kind,omitempty"`
}

// Validation is what execution proved about a candidate.
type Validation struct {
	FailToPass, PassToPass []string
	// Flaky are tests dropped for changing outcome between runs.
	Flaky []string
	Runs  []RunRecord
	// TestRuntime is the mean test time of the runs with the fix.
	TestRuntime time.Duration
	// BeforeLog is the first run's log without the fix: what a problem
	// statement written from the failing tests quotes. Before and After
	// are the first runs' test statuses on each side.
	BeforeLog     []byte
	Before, After logparse.Map
}

// Rejection is a candidate that validation refused, and why.
type Rejection struct{ Reason string }

func (r *Rejection) Error() string { return r.Reason }

func reject(format string, args ...any) error {
	return &Rejection{Reason: fmt.Sprintf(format, args...)}
}

// Validate runs inst's tests without and with its gold patch and derives
// FAIL_TO_PASS (failing or absent in every run before, passing in every
// run after) and PASS_TO_PASS (passing in every run of both). A
// *Rejection means the candidate is not a task (no FAIL_TO_PASS test, a
// run that failed, too slow); other errors mean validation could not
// happen.
func (v *Validator) Validate(ctx context.Context, inst *swebench.Instance) (*Validation, error) {
	env, err := v.Envs.Find(inst.Repo, inst.Version)
	if err != nil {
		return nil, reject("no environment: %v", err)
	}
	runs := v.Runs
	if runs <= 0 {
		runs = 3
	}
	maxTime := v.MaxTestTime
	if maxTime <= 0 {
		maxTime = 10 * time.Minute
	}
	probe := *inst
	probe.FailToPass, probe.PassToPass = nil, nil
	val := &Validation{}
	var before, after []logparse.Map
	var afterTime time.Duration
	run := func(phase string, attempt int) error {
		model := ""
		if phase == "after" {
			model = inst.Patch
		}
		res := v.Evaluator.EvaluateSWE(ctx, &probe, env, model, harness.SWEOptions{Timeout: maxTime})
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := RunRecord{Phase: phase, Attempt: attempt, TestMS: res.Timings.Test.Milliseconds(), TotalMS: res.Timings.Total.Milliseconds(), ExitCode: res.TestExitCode, ErrorKind: res.ErrKind}
		for _, s := range res.Statuses {
			if s.Passing() {
				rec.Passed++
			} else if s.Failing() {
				rec.Failed++
			}
		}
		val.Runs = append(val.Runs, rec)
		switch {
		case res.ErrKind == harness.ErrKindSandbox:
			return fmt.Errorf("validating %s (%s run %d): %v", inst.InstanceID, phase, attempt, res.Err)
		case res.ErrKind == harness.ErrKindInvalidLog && phase == "before":
			// Nothing ran or nothing passed before the fix, e.g. the
			// tests import what the fix adds.
		case res.ErrKind != "":
			return reject("%s run %d: %s: %v", phase, attempt, res.ErrKind, res.Err)
		}
		if phase == "before" {
			if attempt == 1 {
				val.BeforeLog, val.Before = res.Log, res.Statuses
			}
			before = append(before, res.Statuses)
		} else {
			if attempt == 1 {
				val.After = res.Statuses
			}
			after = append(after, res.Statuses)
			afterTime += res.Timings.Test
		}
		return nil
	}
	for attempt := 1; attempt <= runs; attempt++ {
		if err := run("before", attempt); err != nil {
			return val, err
		}
		if err := run("after", attempt); err != nil {
			return val, err
		}
		// One run of each side is enough to see there is nothing to
		// prove; the rest are for flakiness.
		if f2p, _, _ := derive(before, after); len(f2p) == 0 {
			return val, reject("no test fails before the fix and passes after it (%d tests passed after)", len(passing(after[0])))
		}
	}
	val.FailToPass, val.PassToPass, val.Flaky = derive(before, after)
	if len(val.FailToPass) == 0 {
		return val, reject("no FAIL_TO_PASS test left once %d flaky tests are dropped", len(val.Flaky))
	}
	val.TestRuntime = afterTime / time.Duration(len(after))
	return val, nil
}

func passing(m logparse.Map) []string {
	var out []string
	for id, s := range m {
		if s.Passing() {
			out = append(out, id)
		}
	}
	return out
}

// derive classifies every test seen in any run. A test is flaky when its
// passing differs between runs of one side.
func derive(before, after []logparse.Map) (f2p, p2p, flaky []string) {
	ids := map[string]bool{}
	for _, ms := range [][]logparse.Map{before, after} {
		for _, m := range ms {
			for id := range m {
				ids[id] = true
			}
		}
	}
	// state: 1 passing in every run, -1 passing in none, 0 mixed.
	state := func(ms []logparse.Map, id string) int {
		p := 0
		for _, m := range ms {
			if m[id].Passing() {
				p++
			}
		}
		switch p {
		case len(ms):
			return 1
		case 0:
			return -1
		}
		return 0
	}
	for id := range ids {
		b, a := state(before, id), state(after, id)
		switch {
		case b == 0 || a == 0:
			flaky = append(flaky, id)
		case b == -1 && a == 1:
			f2p = append(f2p, id)
		case b == 1 && a == 1:
			p2p = append(p2p, id)
		}
	}
	slices.Sort(f2p)
	slices.Sort(p2p)
	slices.Sort(flaky)
	return f2p, p2p, flaky
}
