package validator_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
	"github.com/agoranet/agora/validator"
)

// TestResultsSigned: a validator with a Signer signs each result for its
// job's spec hash, as the coordinator and agora replay check.
func TestResultsSigned(t *testing.T) {
	f := newFake(2)
	key, _ := hotkey.FromURI("//SigningValidator")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := &validator.Validator{Coordinator: f, Replayer: &slowReplayer{}, Poll: 10 * time.Millisecond, Logger: quiet(), Signer: key}
	hashes := map[string]string{}
	for _, l := range f.queue {
		hashes[l.Job.ID] = l.ReplaySpecHash
	}
	go v.Run(ctx)
	waitFor(t, "2 results", func() bool { n, _ := f.count(); return n == 2 })
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, r := range f.results {
		if r.Validator != key.Address() || r.Signer != key.Address() {
			t.Fatalf("%s: Validator=%q Signer=%q, want %s", id, r.Validator, r.Signer, key.Address())
		}
		if err := hotkey.VerifyResult(hashes[id], r); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
}

// fixedReplayer returns one result for every spec and records the spec.
type fixedReplayer struct {
	r    *agora.Result
	spec *agora.ReplaySpec
}

func (f *fixedReplayer) Replay(ctx context.Context, spec *agora.ReplaySpec) (*agora.Result, []byte) {
	f.spec = spec
	c := *f.r
	return &c, nil
}

func TestRunAudit(t *testing.T) {
	key, _ := hotkey.FromURI("//AuditValidator")
	other, _ := hotkey.FromURI("//Other")
	task := &agora.Task{Kind: agora.TaskSWE}
	spec, _ := json.Marshal(agora.ReplaySpec{Version: agora.ReplaySpecVersion, Kind: agora.TaskSWE, Patch: "p"})
	hash := agora.SHA256Hex(spec)
	stored := func(status string, tests map[string]string) *agora.Result {
		r := &agora.Result{SubmissionID: "s", Validator: key.Address(), Status: status, Tests: tests}
		if err := hotkey.SignResult(key, hash, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	pass := map[string]string{"t1": "PASSED", "t2": "PASSED"}
	for _, tc := range []struct {
		name     string
		local    *agora.Result
		results  []*agora.Result
		subState string
		trusted  []string
		want     string
		detail   string
	}{
		{"Agree", &agora.Result{Status: agora.ResultAccepted, Tests: pass}, []*agora.Result{stored(agora.ResultAccepted, pass)}, agora.SubmissionAccepted, nil, validator.AuditAgree, ""},
		{"TestDiffers", &agora.Result{Status: agora.ResultAccepted, Tests: map[string]string{"t1": "PASSED", "t2": "FAILED"}},
			[]*agora.Result{stored(agora.ResultAccepted, pass)}, agora.SubmissionAccepted, nil, validator.AuditDisagree, "test t2: stored PASSED, replay FAILED"},
		{"VerdictNotFromResults", &agora.Result{Status: agora.ResultAccepted, Tests: pass}, []*agora.Result{stored(agora.ResultAccepted, pass)},
			agora.SubmissionRejected, nil, validator.AuditDisagree, "stored verdict is rejected"},
		{"Tampered", &agora.Result{Status: agora.ResultAccepted, Tests: pass}, []*agora.Result{func() *agora.Result {
			r := stored(agora.ResultRejected, pass)
			r.Status = agora.ResultAccepted
			return r
		}()}, agora.SubmissionAccepted, nil, validator.AuditBadSignature, "does not match"},
		{"Untrusted", &agora.Result{Status: agora.ResultAccepted, Tests: pass}, []*agora.Result{stored(agora.ResultAccepted, pass)},
			agora.SubmissionAccepted, []string{other.Address()}, validator.AuditBadSignature, "not a trusted validator"},
		{"Unsigned", &agora.Result{Status: agora.ResultAccepted, Tests: pass}, []*agora.Result{{SubmissionID: "s", Validator: key.Address(), Status: agora.ResultAccepted, Tests: pass}},
			agora.SubmissionAccepted, nil, validator.AuditBadSignature, "unsigned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := validator.RunAudit(context.Background(), &fixedReplayer{r: tc.local}, validator.AuditInput{Task: task,
				Submission: &agora.Submission{ID: "s", Status: tc.subState}, SpecHash: hash, Spec: spec, Results: tc.results, Trusted: tc.trusted})
			if err != nil {
				t.Fatal(err)
			}
			if a.Outcome != tc.want || !a.SpecHashOK {
				t.Fatalf("Outcome=%s SpecHashOK=%v, want %s", a.Outcome, a.SpecHashOK, tc.want)
			}
			var all []string
			for _, ra := range a.Results {
				all = append(all, ra.Differences...)
				if ra.Signature != nil {
					all = append(all, ra.Signature.Error())
				}
			}
			all = append(all, a.Problems...)
			if got := strings.Join(all, "; "); !strings.Contains(got, tc.detail) {
				t.Fatalf("findings %q lack %q", got, tc.detail)
			}
		})
	}
}

// TestAuditRegradesAgentPatch: an agent run is not re-run; the patch its
// result reports is graded.
func TestAuditRegradesAgentPatch(t *testing.T) {
	spec, _ := json.Marshal(agora.ReplaySpec{Kind: agora.TaskSWE, Agent: &agora.AgentRun{AgentID: "a"}})
	rep := &fixedReplayer{r: &agora.Result{Status: agora.ResultAccepted}}
	a, err := validator.RunAudit(context.Background(), rep, validator.AuditInput{SpecHash: agora.SHA256Hex(spec), Spec: spec,
		Results: []*agora.Result{{Status: agora.ResultAccepted, Agent: &agora.AgentReport{Patch: "diff --git a/x b/x\n"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Regraded || rep.spec.Agent != nil || rep.spec.Patch != "diff --git a/x b/x\n" {
		t.Fatalf("Regraded=%v spec agent=%v patch=%q", a.Regraded, rep.spec.Agent, rep.spec.Patch)
	}
}

func TestDifferencesMetricTolerance(t *testing.T) {
	for _, tc := range []struct {
		stored, local float64
		differ        bool
	}{{1, 1.04, false}, {1, 1.06, true}, {0, 0, false}, {0, 1e-13, false}, {-2, -2.2, true}} {
		d := validator.Differences(&agora.Result{Status: agora.ResultAccepted, ObservedMetrics: map[string]float64{"m": tc.stored}},
			&agora.Result{Status: agora.ResultAccepted, ObservedMetrics: map[string]float64{"m": tc.local}}, 0.05)
		if (len(d) > 0) != tc.differ {
			t.Errorf("%g vs %g: %v, want differ=%v", tc.stored, tc.local, d, tc.differ)
		}
	}
}

// FuzzRunAudit: a replay record from a coordinator is untrusted input;
// whatever its spec bytes and results say, RunAudit never panics, and it
// reports agreement only for results that are signed and match.
func FuzzRunAudit(f *testing.F) {
	spec, _ := json.Marshal(agora.ReplaySpec{Kind: agora.TaskSWE, Patch: "p"})
	f.Add(spec, "accepted", "t", "PASSED", "0x00", "v")
	f.Add([]byte(`{"kind":"swe","agent":{"agent_id":"a"}}`), "rejected", "", "", "", "")
	f.Add([]byte(`not json`), "error", "t", "", "", "")
	f.Fuzz(func(t *testing.T, spec []byte, status, test, testStatus, sig, signer string) {
		stored := &agora.Result{SubmissionID: "s", Validator: signer, Signer: signer, Signature: sig, Status: status}
		if test != "" {
			stored.Tests = map[string]string{test: testStatus}
		}
		rep := &fixedReplayer{r: &agora.Result{Status: agora.ResultAccepted, Tests: map[string]string{"t": "PASSED"}}}
		a, err := validator.RunAudit(context.Background(), rep, validator.AuditInput{Task: &agora.Task{Kind: agora.TaskSWE},
			Submission: &agora.Submission{ID: "s", Status: agora.SubmissionAccepted}, SpecHash: agora.SHA256Hex(spec), Spec: spec,
			Results: []*agora.Result{stored}})
		if err != nil {
			return
		}
		if a.Outcome == validator.AuditAgree {
			t.Fatalf("agreement on a result nobody could have signed: %+v", stored)
		}
	})
}
