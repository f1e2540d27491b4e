package sqldb_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
)

// grade leases the next job of a submission for validator and records a
// result with status.
func grade(t *testing.T, db *sqldb.DB, taskID, validator, status string, tests map[string]string) {
	t.Helper()
	l, err := db.LeaseJobs(ctx, agora.LeaseRequest{Validator: validator, TaskID: taskID, Max: 1, TTL: time.Minute})
	if err != nil || len(l) != 1 {
		t.Fatalf("lease for %s: %v %v", validator, err, l)
	}
	r := &agora.Result{JobID: l[0].Job.ID, Validator: validator, Status: status, Tests: tests, DurationMS: 1500}
	if status == agora.ResultError {
		r.Reason = "sandbox: runc failed"
	}
	if _, _, err := db.RecordResult(ctx, r, []byte("log of "+validator)); err != nil {
		t.Fatalf("result of %s: %v", validator, err)
	}
}

func TestGradedSubmissions(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		task := testingutil.SWETask("calc-1")
		task.Quorum = 2
		mustTask(t, db, task)
		// Ids are time-ordered to the millisecond: a millisecond apart,
		// id order is submission order.
		var subs []*agora.Submission
		for i := range 5 {
			subs = append(subs, mustSubmit(t, db, &agora.Submission{TaskID: task.ID, Miner: fmt.Sprintf("miner-%d", i), Patch: fmt.Sprintf("patch %d", i)}))
			clk.Add(time.Millisecond)
		}
		// Submissions 0, 1 and 3 get both results; 2 gets one (no verdict
		// yet); 4 none. Leases go oldest first, one per submission per
		// validator, so each validator grades in submission order.
		pass := map[string]string{"test_calc.py::test_add": "PASSED"}
		for _, v := range []string{"v1", "v2"} {
			for i := range 4 {
				if v == "v2" && i == 2 {
					// v2 skips submission 2: release its job unanswered.
					l, err := db.LeaseJobs(ctx, agora.LeaseRequest{Validator: v, TaskID: task.ID, Max: 1, TTL: time.Minute})
					if err != nil || len(l) != 1 || l[0].Job.SubmissionID != subs[2].ID {
						t.Fatalf("lease: %v %v", err, l)
					}
					continue
				}
				clk.Add(time.Second)
				grade(t, db, task.ID, v, agora.ResultAccepted, pass)
			}
		}
		t.Run("AllPages", func(t *testing.T) {
			var got []*agora.Graded
			after := ""
			for page := 0; ; page++ {
				g, err := db.GradedSubmissions(ctx, after, 2)
				if err != nil {
					t.Fatal(err)
				}
				if len(g) == 0 {
					break
				}
				if len(g) > 2 {
					t.Fatalf("page %d holds %d rows, want at most 2", page, len(g))
				}
				got = append(got, g...)
				after = g[len(g)-1].Submission.ID
			}
			want := []string{subs[0].ID, subs[1].ID, subs[3].ID}
			if len(got) != len(want) {
				t.Fatalf("got %d graded submissions, want %d", len(got), len(want))
			}
			for i, g := range got {
				s := g.Submission
				if s.ID != want[i] {
					t.Fatalf("row %d is %s, want %s", i, s.ID, want[i])
				}
				if s.Verdict == nil || s.Verdict.Status != agora.SubmissionAccepted || s.Patch == "" {
					t.Fatalf("row %d: verdict %+v patch %q", i, s.Verdict, s.Patch)
				}
				if len(g.Results) != 2 || g.Results[0].Validator != "v1" || g.Results[1].Validator != "v2" {
					t.Fatalf("row %d results %+v, want v1 then v2", i, g.Results)
				}
				for _, r := range g.Results {
					if r.SubmissionID != s.ID || r.Tests["test_calc.py::test_add"] != "PASSED" || r.DurationMS != 1500 || r.LogSHA256 == "" {
						t.Fatalf("row %d result %+v", i, r)
					}
				}
			}
		})
		t.Run("After", func(t *testing.T) {
			g, err := db.GradedSubmissions(ctx, subs[1].ID, 0)
			if err != nil || len(g) != 1 || g[0].Submission.ID != subs[3].ID {
				t.Fatalf("after %s: %v %+v", subs[1].ID, err, g)
			}
			g, err = db.GradedSubmissions(ctx, subs[3].ID, 10)
			if err != nil || len(g) != 0 {
				t.Fatalf("after the last: %v %d rows, want none", err, len(g))
			}
		})
		t.Run("RejectedHeld", func(t *testing.T) {
			// A held submission its owner rejected has a verdict and no
			// results.
			s := mustSubmit(t, db, &agora.Submission{TaskID: task.ID, Miner: "held-miner", Patch: "held patch",
				Status: agora.SubmissionHeld, TamperPolicy: agora.TamperHold,
				Hold: &agora.Hold{Findings: []agora.TamperFinding{{Path: "conftest.py", Line: 1, Rule: "runner-internals"}}}})
			if _, err := db.RejectHeldSubmission(ctx, s.ID, "owner"); err != nil {
				t.Fatal(err)
			}
			g, err := db.GradedSubmissions(ctx, subs[3].ID, 10)
			if err != nil || len(g) != 1 {
				t.Fatalf("after rejecting: %v %d rows, want 1", err, len(g))
			}
			if g[0].Submission.ID != s.ID || g[0].Submission.Verdict.Status != agora.SubmissionRejected || g[0].Results == nil || len(g[0].Results) != 0 {
				t.Fatalf("held row %+v results %v", g[0].Submission, g[0].Results)
			}
		})
		t.Run("ManyResults", func(t *testing.T) {
			// One page's results come in one query: check a page wider
			// than the quorum of any one submission keeps them apart.
			task := testingutil.SWETask("calc-many")
			mustTask(t, db, task)
			var ids []string
			for i := range 7 {
				s := mustSubmit(t, db, &agora.Submission{TaskID: task.ID, Miner: fmt.Sprintf("m%d", i), Patch: fmt.Sprintf("p%d", i)})
				ids = append(ids, s.ID)
				clk.Add(time.Millisecond)
				grade(t, db, task.ID, "v9", []string{agora.ResultAccepted, agora.ResultRejected}[i%2], nil)
			}
			g, err := db.GradedSubmissions(ctx, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, row := range g {
				if row.Submission.TaskID != task.ID {
					continue
				}
				if len(row.Results) != 1 || row.Results[0].SubmissionID != row.Submission.ID {
					t.Fatalf("row %s results %+v", row.Submission.ID, row.Results)
				}
				if row.Submission.ID != ids[seen] {
					t.Fatalf("row %d is %s, want %s", seen, row.Submission.ID, ids[seen])
				}
				seen++
			}
			if seen != len(ids) {
				t.Fatalf("saw %d rows of the task, want %d", seen, len(ids))
			}
		})
	})
}
