package harness

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/agoranet/agora/grading"
	"github.com/agoranet/agora/patch"
)

// TestInstanceDetailJSON keeps agora.json's bytes: the file was first
// written from a map (sorted keys, present only when set), and tools read
// it.
func TestInstanceDetailJSON(t *testing.T) {
	res := &SWEResult{
		Resolution: grading.Resolution("RESOLVED_FULL"), TestExitCode: 0, Guarded: true,
		TamperFindings: []patch.Finding{{Path: "conftest.py", Line: 3, Rule: "x"}},
		Timings:        Timings{Checkout: 2 * time.Millisecond, Environment: 3 * time.Millisecond, Prepare: 4 * time.Millisecond, Test: 5 * time.Millisecond, Total: 15 * time.Millisecond},
	}
	for _, tc := range []struct {
		name string
		d    *InstanceDetail
		want string
	}{
		{"Evaluated", NewInstanceDetail("calc-1", "gold", "", nil, res), `{
  "ignored_test_edits": null,
  "instance_id": "calc-1",
  "model_name_or_path": "gold",
  "resolution": "RESOLVED_FULL",
  "runner_guard": true,
  "tamper_findings": [
    ` + findingJSON(t, res.TamperFindings[0]) + `
  ],
  "test_exit_code": 0,
  "timings_ms": {
    "checkout": 2,
    "environment": 3,
    "prepare": 4,
    "test": 5,
    "total": 15
  }
}`},
		{"NotEvaluated", NewInstanceDetail("calc-1", "gold", ErrKindEnvironment, errors.New("calc-1: no environment"), nil), `{
  "error": "calc-1: no environment",
  "error_kind": "` + ErrKindEnvironment + `",
  "instance_id": "calc-1",
  "model_name_or_path": "gold"
}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.MarshalIndent(tc.d, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("agora.json =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// findingJSON is a finding as agora.json nests it, two levels deep.
func findingJSON(t *testing.T, f patch.Finding) string {
	b, err := json.MarshalIndent(f, "    ", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInstanceDetailMatchesMap compares the struct with the map that
// `agora eval` wrote agora.json from before it had a type.
func TestInstanceDetailMatchesMap(t *testing.T) {
	legacy := func(id, model, kind string, err error, res *SWEResult) map[string]any {
		d := map[string]any{"instance_id": id, "model_name_or_path": model}
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
		return d
	}
	fail := errors.New("calc-1: model patch refused: <&> \"quoted\"")
	for _, tc := range []struct {
		name string
		kind string
		err  error
		res  *SWEResult
	}{
		{"Resolved", "", nil, &SWEResult{Resolution: "RESOLVED_FULL", Guarded: true, IgnoredTestEdits: []string{"tests/test_a.py"}}},
		{"Failed", ErrKindPatchRefused, fail, &SWEResult{ErrKind: ErrKindPatchRefused, Err: fail, TestExitCode: 1,
			TamperFindings: []patch.Finding{{Path: "a.py", Line: 1, Rule: "atexit", Text: "import atexit"}}}},
		{"NotRun", ErrKindEnvironment, fail, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, _ := json.MarshalIndent(legacy("calc-1", "m", tc.kind, tc.err, tc.res), "", "  ")
			got, _ := json.MarshalIndent(NewInstanceDetail("calc-1", "m", tc.kind, tc.err, tc.res), "", "  ")
			if string(got) != string(want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
