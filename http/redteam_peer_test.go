package http_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/testingutil"
)

// peerTask is a peer_evaluation metric task where a higher loss is better,
// so a forged 1e9 would top the board.
func peerTask(t *testing.T, e *env, slug string) *agora.Task {
	t.Helper()
	task := testingutil.MetricTask(slug, agora.Maximize)
	task.CompetitionMode, task.MinPeerEvaluations = agora.ModePeerEvaluation, 3
	task, err := e.owner.CreateTask(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// TestRedTeamPeerSybils: three fresh hotkeys that nobody registered try to
// accept a no-op submission with a forged score, and to reject a
// competitor's. On a coordinator without a registered-miner set, peer
// evaluation is closed to everyone.
func TestRedTeamPeerSybils(t *testing.T) {
	forEachServer(t, func(t *testing.T, e *env) {
		task := peerTask(t, e, "peer-open")
		noop, err := e.m1.Submit(ctx, agorahttp.SubmitRequest{TaskID: task.ID, Patch: "diff --git a/model/noop.py b/model/noop.py\n"})
		if err != nil {
			t.Fatal(err)
		}
		rival, err := e.m2.Submit(ctx, agorahttp.SubmitRequest{TaskID: task.ID, Patch: "diff --git a/model/real.py b/model/real.py\n"})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			sybil := agorahttp.NewClient(e.srv.URL(), mustKey(t, fmt.Sprintf("//Sybil%d", i)))
			_, err := sybil.PeerEvaluate(ctx, noop.ID, agorahttp.EvaluationRequest{Status: agora.ResultAccepted, ObservedMetrics: map[string]float64{"loss": 1e9}})
			if agora.ErrorCode(err) != agora.EFORBIDDEN {
				t.Errorf("sybil %d accepted the no-op: %v", i, err)
			}
			_, err = sybil.PeerEvaluate(ctx, rival.ID, agorahttp.EvaluationRequest{Status: agora.ResultRejected, Reason: "bad"})
			if agora.ErrorCode(err) != agora.EFORBIDDEN {
				t.Errorf("sybil %d rejected the rival: %v", i, err)
			}
		}
		for _, id := range []string{noop.ID, rival.ID} {
			if s, err := e.anon.Submission(ctx, id); err != nil || s.Status != agora.SubmissionPending {
				t.Errorf("submission %s decided by sybils: %v %+v", id, err, s.Verdict)
			}
		}
		if best, err := e.anon.Best(ctx, task.ID); agora.ErrorCode(err) != agora.ENOTFOUND {
			t.Errorf("the no-op became the best result: %v %+v", err, best)
		}
		// Even a miner the coordinator knows may not: no registered set.
		_, err = e.m2.PeerEvaluate(ctx, noop.ID, agorahttp.EvaluationRequest{Status: agora.ResultAccepted, ObservedMetrics: map[string]float64{"loss": 1}})
		if agora.ErrorCode(err) != agora.EFORBIDDEN {
			t.Errorf("peer evaluation is open to anyone without a registered-miner set: %v", err)
		}
	})
}

// assignment is what the attack reads of GET /api/v1/peer-assignments.
type assignment struct {
	SubmissionID string            `json:"submission_id"`
	Evaluator    string            `json:"evaluator_hotkey"`
	Submission   *agora.Submission `json:"submission"`
}

// TestRedTeamPeerSelfSelection: with registered miners, the coordinator
// assigns the evaluators. Registered miners it did not assign (colluders
// picking themselves), and unregistered keys, are refused; an assigned
// evaluator posts once (409 on a second); the assigned decide.
func TestRedTeamPeerSelfSelection(t *testing.T) {
	for _, d := range testingutil.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			var registered []*hotkey.Signer
			for i := 0; i < 7; i++ {
				registered = append(registered, mustKey(t, fmt.Sprintf("//Registered%d", i)))
			}
			e := MustOpenServer(t, d, func(s *agorahttp.Server) {
				s.Roles.Miners = []string{devKeys(t).m1.Address()}
				for _, k := range registered {
					s.Roles.Miners = append(s.Roles.Miners, k.Address())
				}
			})
			task := peerTask(t, e, "peer-registered")
			noop, err := e.m1.Submit(ctx, agorahttp.SubmitRequest{TaskID: task.ID, Patch: "diff --git a/model/noop.py b/model/noop.py\n"})
			if err != nil {
				t.Fatal(err)
			}
			// Unregistered: refused by role.
			sybil := agorahttp.NewClient(e.srv.URL(), mustKey(t, "//Sybil1"))
			if _, err := sybil.PeerEvaluate(ctx, noop.ID, agorahttp.EvaluationRequest{Status: agora.ResultAccepted, ObservedMetrics: map[string]float64{"loss": 1e9}}); agora.ErrorCode(err) != agora.EFORBIDDEN {
				t.Errorf("unregistered sybil: %v", err)
			}
			// The submitter cannot see itself assigned.
			var mine agorahttp.ListResponse[*assignment]
			if err := e.m1.CallJSON(ctx, "GET", "/api/v1/peer-assignments", nil, &mine); err != nil {
				t.Fatalf("assignments route: %v", err)
			}
			for _, a := range mine.Items {
				if a.SubmissionID == noop.ID {
					t.Fatal("the submitter was assigned its own submission")
				}
			}
			assigned := 0
			for i, k := range registered {
				c := agorahttp.NewClient(e.srv.URL(), k)
				var list agorahttp.ListResponse[*assignment]
				if err := c.CallJSON(ctx, "GET", "/api/v1/peer-assignments", nil, &list); err != nil {
					t.Fatal(err)
				}
				isAssigned, specHash := false, ""
				for _, a := range list.Items {
					if a.SubmissionID == noop.ID {
						isAssigned = true
						if a.Submission != nil {
							specHash = a.Submission.ReplaySpecHash
						}
						if a.Submission == nil || a.Submission.Patch == "" {
							t.Errorf("an assigned evaluator needs the patch: %+v", a)
						}
					}
				}
				// Each one tries, assigned or not: a colluder picks itself.
				req := agorahttp.EvaluationRequest{Status: agora.ResultRejected, Reason: "does nothing"}
				if isAssigned {
					// An assigned evaluator signs, as validators do; a
					// signature over another status is refused first.
					signed := &agora.Result{SubmissionID: noop.ID, Validator: k.Address(), Status: agora.ResultAccepted}
					if err := hotkey.SignResult(k, specHash, signed); err != nil {
						t.Fatal(err)
					}
					req.Signer, req.Signature = signed.Signer, signed.Signature
					if _, err := c.PeerEvaluate(ctx, noop.ID, req); agora.ErrorCode(err) != agora.EINVALID || !strings.HasPrefix(agora.ErrorMessage(err), "signature:") {
						t.Errorf("registered %d: an evaluation signed for another status: %v", i, err)
					}
					signed.Status = agora.ResultRejected
					hotkey.SignResult(k, specHash, signed)
					req.Signature = signed.Signature
				}
				_, err := c.PeerEvaluate(ctx, noop.ID, req)
				switch {
				case isAssigned && err != nil:
					t.Errorf("registered %d assigned and refused: %v", i, err)
				case !isAssigned && agora.ErrorCode(err) != agora.EFORBIDDEN:
					t.Errorf("registered %d not assigned, evaluated anyway: %v", i, err)
				}
				if isAssigned {
					assigned++
					if assigned < task.MinPeerEvaluations {
						_, err := c.PeerEvaluate(ctx, noop.ID, req)
						if agora.ErrorCode(err) != agora.ECONFLICT {
							t.Errorf("a second evaluation by one hotkey: %v", err)
						}
					}
				}
			}
			if assigned != task.MinPeerEvaluations {
				t.Fatalf("%d evaluators assigned, want %d", assigned, task.MinPeerEvaluations)
			}
			if s, err := e.anon.Submission(ctx, noop.ID); err != nil || s.Status != agora.SubmissionRejected || s.Verdict.Rejected != 3 {
				t.Fatalf("verdict by the assigned: %v %+v", err, s)
			}
		})
	}
}
