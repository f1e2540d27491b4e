package sqldb_test

import (
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
)

// TestValidatorStats: last seen, results in the window, and agreement
// with the verdict the quorum decided.
func TestValidatorStats(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		stats, err := db.ValidatorStats(ctx, clk.Now())
		if err != nil || len(stats) != 0 {
			t.Fatalf("empty store: %v %+v", err, stats)
		}
		task := testingutil.SWETask("pair")
		task.Quorum = 2
		mustTask(t, db, task)
		other := mustTask(t, db, testingutil.SWETask("other"))
		subs := submitN(t, db, task, 1)
		submitN(t, db, other, 1)
		record := func(validator, taskID, status string) {
			t.Helper()
			l, err := db.LeaseJobs(ctx, agora.LeaseRequest{Validator: validator, TaskID: taskID})
			if err != nil || len(l) != 1 {
				t.Fatalf("lease for %s: %v %d", validator, err, len(l))
			}
			if _, _, err := db.RecordResult(ctx, &agora.Result{JobID: l[0].Job.ID, Validator: validator, Status: status}, nil); err != nil {
				t.Fatal(err)
			}
		}
		// Submission 0: v0 accepts, v1 rejects; a tie rejects, so v1 agrees.
		record("v0", task.ID, agora.ResultAccepted)
		clk.Add(2 * time.Hour)
		since := clk.Now()
		record("v1", task.ID, agora.ResultRejected)
		// The other task's submission: v1 alone decides it, so it agrees.
		clk.Add(time.Minute)
		record("v1", other.ID, agora.ResultAccepted)
		if got, _ := db.FindSubmissionByID(ctx, subs[0].ID); got.Status != agora.SubmissionRejected {
			t.Fatalf("submission 0: %s", got.Status)
		}
		stats, err = db.ValidatorStats(ctx, since)
		if err != nil || len(stats) != 2 {
			t.Fatalf("stats: %v %+v", err, stats)
		}
		want := []agora.ValidatorStats{
			{Validator: "v1", Results: 2, LastSeen: clk.Now(), Recent: 2, Decided: 2, Agreed: 2},
			{Validator: "v0", Results: 1, LastSeen: since.Add(-2 * time.Hour), Recent: 0, Decided: 1, Agreed: 0},
		}
		for i, w := range want {
			if got := *stats[i]; got != w {
				t.Errorf("stats[%d] = %+v, want %+v", i, got, w)
			}
		}
		if a := stats[0].Agreement(); a != 1 {
			t.Errorf("v1 agreement %v", a)
		}
	})
}
