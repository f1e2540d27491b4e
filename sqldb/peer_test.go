package sqldb_test

import (
	"sync"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
)

// TestPeerAssignments: evaluators are chosen once, among the registered
// miners other than the submitter, the same under concurrent first calls;
// only they evaluate, once each; their answers decide, errors included.
func TestPeerAssignments(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		task := testingutil.MetricTask("peer", agora.Maximize)
		task.CompetitionMode, task.MinPeerEvaluations = agora.ModePeerEvaluation, 3
		mustTask(t, db, task)
		s := mustSubmit(t, db, &agora.Submission{TaskID: task.ID, Miner: "alice", Patch: "p"})
		registered := []string{"alice", "bob", "carol", "dave", "erin", "frank"}

		// Too few registered miners: nothing is stored.
		_, err := db.AssignEvaluators(ctx, s.ID, registered[:3])
		wantCode(t, err, agora.EUNAVAILABLE)
		if ids, err := db.UnassignedPeerSubmissions(ctx, 10); err != nil || len(ids) != 1 || ids[0] != s.ID {
			t.Fatalf("unassigned: %v %v", err, ids)
		}

		var wg sync.WaitGroup
		got := make([][]*agora.Assignment, 4)
		for i := range got {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				got[i], _ = db.AssignEvaluators(ctx, s.ID, registered)
			}(i)
		}
		wg.Wait()
		chosen := map[string]bool{}
		for _, a := range got[0] {
			chosen[a.Evaluator] = true
		}
		if len(got[0]) != 3 || chosen["alice"] {
			t.Fatalf("assigned %+v", got[0])
		}
		for i := range got {
			if len(got[i]) != 3 {
				t.Fatalf("call %d: %d assignments", i, len(got[i]))
			}
			for _, a := range got[i] {
				if !chosen[a.Evaluator] {
					t.Fatalf("call %d chose differently: %s", i, a.Evaluator)
				}
			}
		}
		// A later call with another registered set keeps the choice.
		again, err := db.AssignEvaluators(ctx, s.ID, []string{"x", "y", "z"})
		if err != nil || len(again) != 3 || !chosen[again[0].Evaluator] {
			t.Fatalf("reassigned: %v %+v", err, again)
		}
		if ids, _ := db.UnassignedPeerSubmissions(ctx, 10); len(ids) != 0 {
			t.Fatalf("still unassigned: %v", ids)
		}
		eval := func(who, status string) error {
			r := &agora.Result{SubmissionID: s.ID, Validator: who, Status: status, ObservedMetrics: map[string]float64{"loss": 2}}
			if status == agora.ResultError {
				r.Reason = "could not run"
			}
			_, err := db.RecordPeerEvaluation(ctx, r)
			return err
		}
		for _, h := range registered {
			if !chosen[h] && h != "alice" {
				wantCode(t, eval(h, agora.ResultAccepted), agora.EFORBIDDEN)
			}
		}
		wantCode(t, eval("alice", agora.ResultAccepted), agora.EFORBIDDEN)
		var order []string
		for h := range chosen {
			order = append(order, h)
		}
		// One error and two accepts: every assigned evaluator answered, so
		// the verdict comes though only two ran.
		for i, h := range order {
			status := agora.ResultAccepted
			if i == 0 {
				status = agora.ResultError
			}
			if err := eval(h, status); err != nil {
				t.Fatal(err)
			}
			wantCode(t, eval(h, status), agora.ECONFLICT)
		}
		sub, _ := db.FindSubmissionByID(ctx, s.ID)
		if sub.Status != agora.SubmissionAccepted || sub.Verdict.Accepted != 2 || sub.Verdict.Errors != 1 {
			t.Fatalf("verdict: %s %+v", sub.Status, sub.Verdict)
		}
		done := true
		list, n, err := db.FindAssignments(ctx, agora.AssignmentFilter{Done: &done})
		if err != nil || n != 3 || len(list) != 3 {
			t.Fatalf("done assignments: %v %d", err, n)
		}
		_, err = db.AssignEvaluators(ctx, mustSubmit(t, db, &agora.Submission{TaskID: mustTask(t, db, testingutil.MetricTask("std", agora.Maximize)).ID, Miner: "bob", Patch: "p"}).ID, registered)
		wantCode(t, err, agora.EINVALID)
	})
}
