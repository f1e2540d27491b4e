package sqldb_test

import (
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
)

// TestBoardSubmissions: a task's accepted submissions without bodies,
// oldest first, rank as the full records do; newest-first paging walks
// the same submissions backwards.
func TestBoardSubmissions(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		task := mustTask(t, db, testingutil.MetricTask("board", agora.Minimize))
		other := mustTask(t, db, testingutil.SWETask("other"))
		var subs []*agora.Submission
		for i := 0; i < 4; i++ {
			clk.Add(time.Second) // ids of one instant are not ordered
			subs = append(subs, submitN(t, db, task, 1)...)
		}
		clk.Add(time.Second)
		submitN(t, db, other, 1)
		for i := range subs {
			l, err := db.LeaseJobs(ctx, agora.LeaseRequest{Validator: "v", TaskID: task.ID})
			if err != nil || len(l) != 1 {
				t.Fatal(err, len(l))
			}
			r := &agora.Result{JobID: l[0].Job.ID, Validator: "v", Status: agora.ResultAccepted, ObservedMetrics: map[string]float64{"loss": float64(10 - i)}}
			if i == 2 {
				r.Status, r.ObservedMetrics = agora.ResultRejected, nil
			}
			if _, _, err := db.RecordResult(ctx, r, nil); err != nil {
				t.Fatal(err)
			}
		}
		light, err := db.BoardSubmissions(ctx, task.ID)
		if err != nil || len(light) != 3 {
			t.Fatalf("board submissions: %v %d", err, len(light))
		}
		full, err := db.AllSubmissions(ctx, task.ID, agora.SubmissionAccepted)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range light {
			f := full[i]
			if s.ID != f.ID || s.Miner != f.Miner || !s.CreatedAt.Equal(f.CreatedAt) || s.Status != f.Status || s.Patch != "" ||
				s.Verdict == nil || s.Verdict.Metrics["loss"] != f.Verdict.Metrics["loss"] || !s.Verdict.DecidedAt.Equal(f.Verdict.DecidedAt) {
				t.Errorf("light %d = %+v, full %+v", i, s, f)
			}
		}
		if n, err := db.AcceptedCount(ctx, task.ID); err != nil || n != 3 {
			t.Errorf("accepted count: %d %v", n, err)
		}
		if n, err := db.AcceptedCount(ctx, other.ID); err != nil || n != 0 {
			t.Errorf("accepted count of a task without verdicts: %d %v", n, err)
		}
		lb, fb := agora.RankTask(task, light), agora.RankTask(task, full)
		if lb.Best == nil || lb.Best.SubmissionID != fb.Best.SubmissionID || lb.Best.SubmissionID != subs[3].ID {
			t.Fatalf("best: %+v vs %+v", lb.Best, fb.Best)
		}

		newest, total, err := db.FindSubmissions(ctx, agora.SubmissionFilter{Newest: true, Limit: 2})
		if err != nil || total != 5 || len(newest) != 2 || newest[0].TaskID != other.ID || newest[1].ID != subs[3].ID {
			t.Fatalf("newest page 1: %v %d %+v", err, total, newest)
		}
		mine, _, _ := db.FindSubmissions(ctx, agora.SubmissionFilter{TaskID: &task.ID, Newest: true, Offset: 3, Limit: 2})
		if len(mine) != 1 || mine[0].ID != subs[0].ID {
			t.Fatalf("newest of the task, last page: %+v", mine)
		}
	})
}
