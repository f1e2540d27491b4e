package sqldb_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
)

// heldSubmission stores a submission the tampering scan held.
func heldSubmission(t *testing.T, db *sqldb.DB, taskID, key string) *agora.Submission {
	t.Helper()
	s := &agora.Submission{TaskID: taskID, Miner: "miner", ClientKey: key, Patch: "diff --git a/calc.py b/calc.py\n",
		Status: agora.SubmissionHeld, TamperPolicy: agora.TamperHold,
		Hold: &agora.Hold{Findings: []agora.TamperFinding{{Path: "calc/__init__.py", Line: 7, Rule: "runner-internals", Text: "import _pytest"}}}}
	created, err := db.CreateSubmission(ctx, s)
	if err != nil || !created {
		t.Fatalf("create held: created=%v err=%v", created, err)
	}
	return s
}

func jobCount(t *testing.T, db *sqldb.DB, subID string) int {
	t.Helper()
	_, n, err := db.FindJobs(ctx, agora.JobFilter{SubmissionID: &subID, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestHeldSubmission(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		task := testingutil.SWETask("held-task")
		task.Quorum = 2
		if err := db.CreateTask(ctx, task); err != nil {
			t.Fatal(err)
		}

		t.Run("StoredWithoutJobs", func(t *testing.T) {
			s := heldSubmission(t, db, task.ID, "k1")
			got, err := db.FindSubmissionByID(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != agora.SubmissionHeld || got.Hold == nil || len(got.Hold.Findings) != 1 || got.Hold.Findings[0].Line != 7 {
				t.Fatalf("stored %+v (hold %+v), want held with its finding", got, got.Hold)
			}
			if got.TamperPolicy != agora.TamperHold {
				t.Errorf("TamperPolicy=%q, want hold", got.TamperPolicy)
			}
			if n := jobCount(t, db, s.ID); n != 0 {
				t.Fatalf("%d jobs for a held submission, want 0", n)
			}
			// A retry with the same client key returns the held one.
			again := &agora.Submission{TaskID: task.ID, Miner: "miner", ClientKey: "k1", Patch: s.Patch, Status: agora.SubmissionHeld, Hold: s.Hold}
			if created, err := db.CreateSubmission(ctx, again); err != nil || created || again.ID != s.ID || again.Status != agora.SubmissionHeld {
				t.Fatalf("retry: created=%v err=%v id=%s status=%s", created, err, again.ID, again.Status)
			}
			spec, err := db.FindReplaySpec(ctx, got.ReplaySpecHash)
			if err != nil {
				t.Fatal(err)
			}
			if want := `"tamper_policy":"hold"`; !strings.Contains(string(spec), want) {
				t.Errorf("replay spec %s lacks %s", spec, want)
			}
		})

		t.Run("Release", func(t *testing.T) {
			s := heldSubmission(t, db, task.ID, "k2")
			clk.Add(1)
			got, err := db.ReleaseSubmission(ctx, s.ID, "owner")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != agora.SubmissionPending || got.Hold.Decision != agora.HoldReleased || got.Hold.DecidedBy != "owner" {
				t.Fatalf("released %+v hold %+v", got, got.Hold)
			}
			if n := jobCount(t, db, s.ID); n != 2 {
				t.Fatalf("%d jobs after release, want the quorum 2", n)
			}
			again, err := db.ReleaseSubmission(ctx, s.ID, "owner")
			if err != nil || again.Status != agora.SubmissionPending {
				t.Fatalf("second release: %v %+v", err, again)
			}
			if n := jobCount(t, db, s.ID); n != 2 {
				t.Fatalf("%d jobs after a second release, want 2", n)
			}
			_, err = db.RejectHeldSubmission(ctx, s.ID, "owner")
			wantCode(t, err, agora.ECONFLICT)
		})

		t.Run("ConcurrentRelease", func(t *testing.T) {
			s := heldSubmission(t, db, task.ID, "k3")
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = db.ReleaseSubmission(ctx, s.ID, "owner")
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if n := jobCount(t, db, s.ID); n != 2 {
				t.Fatalf("%d jobs after concurrent releases, want 2", n)
			}
		})

		t.Run("Reject", func(t *testing.T) {
			s := heldSubmission(t, db, task.ID, "k4")
			got, err := db.RejectHeldSubmission(ctx, s.ID, "owner")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != agora.SubmissionRejected || got.Verdict == nil || got.Verdict.Status != agora.SubmissionRejected || got.Hold.Decision != agora.HoldRejected {
				t.Fatalf("rejected %+v", got)
			}
			if _, err := db.RejectHeldSubmission(ctx, s.ID, "owner"); err != nil {
				t.Fatalf("second reject: %v", err)
			}
			stored, _ := db.FindSubmissionByID(ctx, s.ID)
			if stored.Status != agora.SubmissionRejected || stored.Hold.Decision != agora.HoldRejected {
				t.Fatalf("stored %+v", stored)
			}
			_, err = db.ReleaseSubmission(ctx, s.ID, "owner")
			wantCode(t, err, agora.ECONFLICT)
			if n := jobCount(t, db, s.ID); n != 0 {
				t.Fatalf("%d jobs for a rejected hold", n)
			}
		})

		t.Run("NotHeld", func(t *testing.T) {
			s := &agora.Submission{TaskID: task.ID, Miner: "miner", Patch: "diff --git a/calc.py b/calc.py\n"}
			if _, err := db.CreateSubmission(ctx, s); err != nil {
				t.Fatal(err)
			}
			if s.Status != agora.SubmissionPending || jobCount(t, db, s.ID) != 2 {
				t.Fatalf("plain submission: %s, %d jobs", s.Status, jobCount(t, db, s.ID))
			}
			_, err := db.ReleaseSubmission(ctx, s.ID, "owner")
			wantCode(t, err, agora.ECONFLICT)
			_, err = db.RejectHeldSubmission(ctx, s.ID, "owner")
			wantCode(t, err, agora.ECONFLICT)
			_, err = db.ReleaseSubmission(ctx, "nope", "owner")
			wantCode(t, err, agora.ENOTFOUND)
		})

		t.Run("HeldWithoutFindings", func(t *testing.T) {
			s := &agora.Submission{TaskID: task.ID, Miner: "miner", Patch: "x", Status: agora.SubmissionHeld}
			_, err := db.CreateSubmission(ctx, s)
			wantCode(t, err, agora.EINTERNAL)
		})
	})
}
