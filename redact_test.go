package agora_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/agoranet/agora"
)

func TestReasonClass(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    agora.Result
		want string
	}{
		{"Accepted", agora.Result{Status: agora.ResultAccepted, Reason: "whatever"}, ""},
		{"NotResolved", agora.Result{Status: agora.ResultRejected, Reason: "not resolved: RESOLVED_NO (test_timeout_x failed)"}, agora.ReasonTestsFailed},
		{"TestsOnly", agora.Result{Status: agora.ResultRejected, Tests: map[string]string{"t": "FAILED"}}, agora.ReasonTestsFailed},
		{"PatchRefused", agora.Result{Status: agora.ResultRejected, Reason: "patch_refused: touches tests/conftest.py"}, agora.ReasonPatchRefused},
		{"PatchApply", agora.Result{Status: agora.ResultRejected, Reason: "patch_apply_failed: hunk 2"}, agora.ReasonPatchRefused},
		{"Artifact", agora.Result{Status: agora.ResultRejected, Reason: "artifact: sha256 mismatch"}, agora.ReasonPatchRefused},
		{"Tampered", agora.Result{Status: agora.ResultRejected, Reason: "runner_tampered: conftest hook"}, agora.ReasonRunnerTampered},
		{"Canary", agora.Result{Status: agora.ResultRejected, Reason: "guard: canary test reported passing"}, agora.ReasonRunnerTampered},
		{"Timeout", agora.Result{Status: agora.ResultRejected, Reason: "timeout: tests ran past 3600s"}, agora.ReasonTimeout},
		{"AgentTimeout", agora.Result{Status: agora.ResultRejected, Reason: "agent timeout: x", Agent: &agora.AgentReport{ErrorKind: "timeout"}}, agora.ReasonTimeout},
		{"AgentCrash", agora.Result{Status: agora.ResultRejected, Reason: "agent crash: Traceback", Agent: &agora.AgentReport{ErrorKind: "crash"}}, agora.ReasonAgentFailed},
		{"AgentEmpty", agora.Result{Status: agora.ResultRejected, Reason: "agent returned an empty patch"}, agora.ReasonAgentFailed},
		{"Sandbox", agora.Result{Status: agora.ResultError, Reason: "sandbox: runc failed"}, agora.ReasonError},
		{"Benchmark", agora.Result{Status: agora.ResultRejected, Reason: "benchmark declared a policy failure"}, agora.ReasonRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := agora.ReasonClass(&tc.r); got != tc.want {
				t.Fatalf("ReasonClass=%q, want %q", got, tc.want)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	r := &agora.Result{SubmissionID: "s", Validator: "v", Status: agora.ResultRejected, Reason: "not resolved: SECRET",
		Tests: map[string]string{"SECRET": "FAILED"}, Notes: "SECRET", LogExcerpt: "SECRET", LogSHA256: "SECRET", LogBytes: 9,
		ObservedMetrics: map[string]float64{"SECRET": 1}, DurationMS: 5, Agent: &agora.AgentReport{Patch: "SECRET", Error: "SECRET"}}
	b, _ := json.Marshal(r.Redacted())
	if strings.Contains(string(b), "SECRET") || !strings.Contains(string(b), agora.ReasonTestsFailed) {
		t.Fatalf("redacted result: %s", b)
	}
	task := &agora.Task{MetricContract: agora.MetricContract{MetricName: "loss"}}
	v := (&agora.Verdict{Status: agora.SubmissionAccepted, Metrics: map[string]float64{"loss": 1, "SECRET": 2}, DisputeReason: "SECRET"}).Redacted(task)
	if b, _ := json.Marshal(v); strings.Contains(string(b), "SECRET") || v.Metrics["loss"] != 1 {
		t.Fatalf("redacted verdict: %s", b)
	}
	if !agora.Sealed(&agora.Task{Visibility: agora.VisibilityHidden}) || !agora.Sealed(&agora.Task{ValidatorEnv: map[string]string{"K": "v"}}) || agora.Sealed(&agora.Task{}) {
		t.Fatal("Sealed")
	}
}

func TestChooseEvaluators(t *testing.T) {
	var reg []string
	for i := 0; i < 20; i++ {
		reg = append(reg, fmt.Sprintf("miner%02d", i))
	}
	a, err := agora.ChooseEvaluators("sub-1", "miner00", reg, 3)
	if err != nil || len(a) != 3 {
		t.Fatalf("choose: %v %v", err, a)
	}
	for _, h := range a {
		if h == "miner00" {
			t.Fatal("the submitter was chosen")
		}
	}
	// Deterministic, order of the registered list aside.
	rev := append([]string(nil), reg...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	if b, _ := agora.ChooseEvaluators("sub-1", "miner00", rev, 3); strings.Join(a, ",") != strings.Join(b, ",") {
		t.Fatalf("not deterministic: %v %v", a, b)
	}
	// Another seed, another choice (for these fixtures).
	if b, _ := agora.ChooseEvaluators("sub-2", "miner00", reg, 3); strings.Join(a, ",") == strings.Join(b, ",") {
		t.Fatalf("seed ignored: %v", b)
	}
	// Duplicates do not count twice; too few is EUNAVAILABLE.
	if _, err := agora.ChooseEvaluators("s", "a", []string{"a", "b", "b", "c"}, 3); agora.ErrorCode(err) != agora.EUNAVAILABLE {
		t.Fatalf("too few: %v", err)
	}
}
