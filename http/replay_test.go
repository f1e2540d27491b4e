package http_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/testingutil"
)

// TestSignedResults posts results with bad signatures (refused with 400
// naming the field) and a good one (stored and served with its
// signature), and reads the public replay records: withheld before the
// verdict and while a hidden task is open, the stored spec byte for byte
// once public, validator-only values elided and marked.
func TestSignedResults(t *testing.T) {
	forEachServer(t, func(t *testing.T, e *env) {
		pub, err := e.owner.CreateTask(ctx, testingutil.SWETask("sig-public"))
		if err != nil {
			t.Fatal(err)
		}
		hidden := testingutil.SWETask("sig-hidden")
		hidden.Visibility = agora.VisibilityHidden
		if hidden, err = e.owner.CreateTask(ctx, hidden); err != nil {
			t.Fatal(err)
		}
		met, err := e.owner.CreateTask(ctx, testingutil.MetricTask("sig-metric", agora.Minimize))
		if err != nil {
			t.Fatal(err)
		}
		subs := map[string]*agora.Submission{}
		for _, task := range []*agora.Task{pub, hidden, met} {
			s, err := e.m1.Submit(ctx, agorahttp.SubmitRequest{TaskID: task.ID, Patch: "diff --git a/model/x.py b/model/x.py\n"})
			if err != nil {
				t.Fatal(err)
			}
			subs[task.Slug] = s
		}

		t.Run("WithheldBeforeVerdict", func(t *testing.T) {
			rs, err := e.anon.Replays(ctx, subs["sig-public"].ID)
			if err != nil || len(rs) != 1 {
				t.Fatal(err, rs)
			}
			if !strings.Contains(rs[0].Withheld, "no verdict yet") || rs[0].ReplaySpec != nil || rs[0].Results != nil {
				t.Fatalf("pending submission: Withheld=%q spec=%d bytes results=%d", rs[0].Withheld, len(rs[0].ReplaySpec), len(rs[0].Results))
			}
		})

		v1 := e.k.v1
		answered := 0
		replay(t, e.v1, func(l *agora.Lease) (*agora.Result, string) {
			r := &agora.Result{JobID: l.Job.ID, SubmissionID: l.Submission.ID, Validator: v1.Address(), Status: agora.ResultAccepted,
				Tests: map[string]string{"test_calc.py::test_add": "PASSED"}}
			if l.Submission.TaskID == met.ID {
				r.Tests, r.ObservedMetrics = nil, map[string]float64{"loss": 0.25}
			}
			if answered == 0 {
				// Refused first: a tampered status, another key's
				// signature, no submission id.
				for _, tc := range []struct {
					name, field string
					mutate      func(r *agora.Result)
				}{
					{"TamperedStatus", "signature:", func(r *agora.Result) { r.Status = agora.ResultRejected }},
					{"OtherSigner", "signer:", func(r *agora.Result) {
						other := *r
						other.Validator = e.k.v2.Address()
						hotkey.SignResult(e.k.v2, l.ReplaySpecHash, &other)
						r.Signer, r.Signature = other.Signer, other.Signature
					}},
					{"WrongSpec", "signature:", func(r *agora.Result) { hotkey.SignResult(v1, strings.Repeat("0", 64), r) }},
					{"Malformed", "signature:", func(r *agora.Result) { r.Signature = "0x1234" }},
				} {
					bad := *r
					if err := hotkey.SignResult(v1, l.ReplaySpecHash, &bad); err != nil {
						t.Fatal(err)
					}
					tc.mutate(&bad)
					_, _, err := e.v1.RecordResult(ctx, &bad, nil)
					wantCode(t, err, agora.EINVALID)
					if !strings.HasPrefix(agora.ErrorMessage(err), tc.field) {
						t.Errorf("%s: %q, want it to name %s", tc.name, agora.ErrorMessage(err), tc.field)
					}
				}
			}
			answered++
			if err := hotkey.SignResult(v1, l.ReplaySpecHash, r); err != nil {
				t.Fatal(err)
			}
			return r, "log"
		})
		if answered != 3 {
			t.Fatalf("answered %d jobs, want 3", answered)
		}

		t.Run("Public", func(t *testing.T) {
			s := subs["sig-public"]
			for _, key := range []string{s.ID, s.ReplaySpecHash} {
				rs, err := e.anon.Replays(ctx, key)
				if err != nil || len(rs) != 1 {
					t.Fatal(err, rs)
				}
				rp := rs[0]
				if rp.Withheld != "" || rp.Elided != nil || agora.SHA256Hex(rp.ReplaySpec) != s.ReplaySpecHash {
					t.Fatalf("by %s: Withheld=%q Elided=%v spec hashes to %s, want %s", key, rp.Withheld, rp.Elided, agora.SHA256Hex(rp.ReplaySpec), s.ReplaySpecHash)
				}
				if len(rp.Results) != 1 || rp.Results[0].Signer != e.k.v1.Address() {
					t.Fatalf("results: %+v", rp.Results)
				}
				if err := hotkey.VerifyResult(rp.ReplaySpecHash, rp.Results[0]); err != nil {
					t.Fatalf("served result does not verify: %v", err)
				}
			}
		})

		t.Run("SpecByHash", func(t *testing.T) {
			// The spec route applies the same rule to the public.
			s := subs["sig-public"]
			b, err := e.anon.ReplaySpec(ctx, s.ReplaySpecHash)
			if err != nil || agora.SHA256Hex(b) != s.ReplaySpecHash {
				t.Fatalf("public spec by hash: %v, hashes to %s", err, agora.SHA256Hex(b))
			}
			b, err = e.anon.ReplaySpec(ctx, subs["sig-metric"].ReplaySpecHash)
			if err != nil || strings.Contains(string(b), "secret") || agora.SHA256Hex(b) == subs["sig-metric"].ReplaySpecHash {
				t.Fatalf("metric spec by hash: %v %s", err, b)
			}
			if hidden.State != agora.TaskClosed {
				_, err = e.anon.ReplaySpec(ctx, subs["sig-hidden"].ReplaySpecHash)
				wantCode(t, err, agora.EFORBIDDEN)
			}
		})

		t.Run("HiddenUntilClosed", func(t *testing.T) {
			s := subs["sig-hidden"]
			rs, err := e.anon.Replays(ctx, s.ID)
			if err != nil || !strings.Contains(rs[0].Withheld, "hidden") || rs[0].ReplaySpec != nil {
				t.Fatalf("open hidden task: %v %+v", err, rs)
			}
			// Owners and validators read it whole.
			rs, err = e.owner.Replays(ctx, s.ID)
			if err != nil || rs[0].Withheld != "" || agora.SHA256Hex(rs[0].ReplaySpec) != s.ReplaySpecHash {
				t.Fatalf("owner: %v %+v", err, rs)
			}
			if _, err := e.owner.TaskAction(ctx, hidden.ID, "close"); err != nil {
				t.Fatal(err)
			}
			rs, err = e.anon.Replays(ctx, s.ID)
			if err != nil || rs[0].Withheld != "" || agora.SHA256Hex(rs[0].ReplaySpec) != s.ReplaySpecHash {
				t.Fatalf("closed hidden task: %v %+v", err, rs)
			}
			var spec agora.ReplaySpec
			if err := json.Unmarshal(rs[0].ReplaySpec, &spec); err != nil || len(spec.SWE.FailToPass) == 0 {
				t.Fatalf("closed hidden task's spec lacks its tests: %v %+v", err, spec.SWE)
			}
		})

		t.Run("ValidatorEnvElided", func(t *testing.T) {
			rs, err := e.anon.Replays(ctx, subs["sig-metric"].ID)
			if err != nil {
				t.Fatal(err)
			}
			rp := rs[0]
			var spec agora.ReplaySpec
			if err := json.Unmarshal(rp.ReplaySpec, &spec); err != nil {
				t.Fatal(err)
			}
			if len(rp.Elided) != 1 || rp.Elided[0] != agora.ElidedValidatorEnv {
				t.Fatalf("Elided=%v, want [%s]", rp.Elided, agora.ElidedValidatorEnv)
			}
			if v, ok := spec.ValidatorEnv["HELDOUT"]; !ok || v != "" || strings.Contains(string(rp.ReplaySpec), "secret") {
				t.Fatalf("validator env served as %v", spec.ValidatorEnv)
			}
		})

		t.Run("BadQuery", func(t *testing.T) {
			_, err := e.anon.Replays(ctx, strings.Repeat("a", 64))
			wantCode(t, err, agora.ENOTFOUND)
		})
	})
}
