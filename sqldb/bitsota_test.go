package sqldb_test

import (
	"sync"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
)

// TestTaskOnboarding: a task and its poster's onboarding text are stored
// together or not at all.
func TestTaskOnboarding(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		a := testingutil.MetricTask("onboard-a", agora.Minimize)
		if err := db.CreateTaskWithOnboarding(ctx, a, "# Read me\n"); err != nil {
			t.Fatal(err)
		}
		b := testingutil.MetricTask("onboard-b", agora.Minimize)
		if err := db.CreateTaskWithOnboarding(ctx, b, ""); err != nil {
			t.Fatal(err)
		}
		// A refused task leaves no text behind.
		dup := testingutil.MetricTask("onboard-a", agora.Minimize)
		wantCode(t, db.CreateTaskWithOnboarding(ctx, dup, "orphan"), agora.ECONFLICT)
		got, err := db.TaskOnboarding(ctx, a.ID, b.ID, dup.ID, "no-such-task")
		if err != nil || len(got) != 1 || got[a.ID] != "# Read me\n" {
			t.Fatalf("onboarding: %v %q", err, got)
		}
		if got, err := db.TaskOnboarding(ctx); err != nil || len(got) != 0 {
			t.Fatalf("no ids: %v %v", err, got)
		}
	})
}

// TestWorkItems: a work item's state follows its latest claim (open,
// claimed, completed; open again when the claim is cancelled or lapses),
// one miner claims it at a time, and listing orders by priority.
func TestWorkItems(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		task := mustTask(t, db, testingutil.MetricTask("planned", agora.Minimize))
		other := mustTask(t, db, testingutil.MetricTask("other", agora.Minimize))
		foreign := mustSubmit(t, db, &agora.Submission{TaskID: other.ID, Miner: "carol", Patch: "p"})

		for _, tc := range []struct {
			name string
			w    agora.WorkItem
			code string
		}{
			{"NoTask", agora.WorkItem{Title: "title"}, agora.EINVALID},
			{"ShortTitle", agora.WorkItem{TaskID: task.ID, Title: "x"}, agora.EINVALID},
			{"Priority", agora.WorkItem{TaskID: task.ID, Title: "title", Priority: 5000}, agora.EINVALID},
			{"UnknownTask", agora.WorkItem{TaskID: "nope", Title: "title"}, agora.ENOTFOUND},
			{"ForeignBase", agora.WorkItem{TaskID: task.ID, Title: "title", BaseSubmissionID: foreign.ID}, agora.EINVALID},
			{"UnknownBase", agora.WorkItem{TaskID: task.ID, Title: "title", BaseSubmissionID: "nope"}, agora.EINVALID},
		} {
			t.Run(tc.name, func(t *testing.T) { wantCode(t, db.CreateWorkItem(ctx, &tc.w), tc.code) })
		}

		low := &agora.WorkItem{TaskID: task.Slug, Title: "low priority", Priority: 1, CreatedBy: "owner"}
		high := &agora.WorkItem{TaskID: task.ID, Title: "high priority", Instructions: "do it", Priority: 9, CreatedBy: "owner"}
		for _, w := range []*agora.WorkItem{low, high} {
			if err := db.CreateWorkItem(ctx, w); err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Second)
		}
		if low.TaskID != task.ID || low.Status != agora.WorkItemOpen {
			t.Fatalf("created %+v", low)
		}
		status := func(s string) *string { return &s }
		list := func(st string) []string {
			t.Helper()
			f := agora.WorkItemFilter{TaskID: &task.ID}
			if st != "" {
				f.Status = status(st)
			}
			items, err := db.FindWorkItems(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, w := range items {
				ids = append(ids, w.ID+"/"+w.Status)
			}
			return ids
		}
		eq := func(got []string, want ...string) {
			t.Helper()
			if len(got) != len(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("got %v, want %v", got, want)
				}
			}
		}
		eq(list(""), high.ID+"/open", low.ID+"/open")
		_, err := db.FindWorkItems(ctx, agora.WorkItemFilter{Status: status("done")})
		wantCode(t, err, agora.EINVALID)

		// Two miners race for the item: one claim wins.
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, errs[i] = db.ClaimWorkItem(ctx, high.ID, &agora.Claim{Miner: []string{"alice", "bob", "carol", "dave"}[i]})
			}(i)
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else if agora.ErrorCode(err) != agora.ECONFLICT {
				t.Fatalf("race: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d claims won: %v", won, errs)
		}
		eq(list(agora.WorkItemClaimed), high.ID+"/claimed")
		eq(list(agora.WorkItemOpen), low.ID+"/open")
		items, err := db.FindWorkItems(ctx, agora.WorkItemFilter{ID: &high.ID})
		if err != nil || len(items) != 1 {
			t.Fatal(err)
		}
		holder, claimID := items[0].Miner, items[0].ClaimID
		claims, _, err := db.FindClaims(ctx, agora.ClaimFilter{ID: &claimID})
		if err != nil || len(claims) != 1 || claims[0].Miner != holder || claims[0].Description != high.Title {
			t.Fatalf("the item's claim: %v %+v", err, claims)
		}

		// Cancelled: open again, and claimable by another miner.
		if _, err := db.CancelClaim(ctx, claimID, holder); err != nil {
			t.Fatal(err)
		}
		eq(list(agora.WorkItemOpen), high.ID+"/open", low.ID+"/open")
		w, err := db.ClaimWorkItem(ctx, high.ID, &agora.Claim{Miner: "erin", Description: "mine now"})
		if err != nil || w.Status != agora.WorkItemClaimed || w.Miner != "erin" {
			t.Fatalf("reclaim: %v %+v", err, w)
		}
		// Lapsed: open again.
		clk.Add(agora.DefaultClaimTTL + time.Second)
		eq(list(agora.WorkItemOpen), high.ID+"/open", low.ID+"/open")
		c := &agora.Claim{Miner: "frank"}
		if _, err := db.ClaimWorkItem(ctx, high.ID, c); err != nil {
			t.Fatal(err)
		}
		// A miner holds one active claim per task, work items included.
		_, err = db.ClaimWorkItem(ctx, low.ID, &agora.Claim{Miner: "frank"})
		wantCode(t, err, agora.ECONFLICT)

		// Submitted: completed, and no longer claimable.
		mustSubmit(t, db, &agora.Submission{TaskID: task.ID, ClaimID: c.ID, Miner: "frank", Patch: "p"})
		eq(list(agora.WorkItemCompleted), high.ID+"/completed")
		_, err = db.ClaimWorkItem(ctx, high.ID, &agora.Claim{Miner: "grace"})
		wantCode(t, err, agora.ECONFLICT)
		_, err = db.ClaimWorkItem(ctx, "nope", &agora.Claim{Miner: "grace"})
		wantCode(t, err, agora.ENOTFOUND)

		// A paused task takes no claims, through its work items either.
		if _, err := db.SetTaskState(ctx, task.ID, agora.TaskPaused); err != nil {
			t.Fatal(err)
		}
		_, err = db.ClaimWorkItem(ctx, low.ID, &agora.Claim{Miner: "grace"})
		wantCode(t, err, agora.EINVALID)
		eq(list(agora.WorkItemOpen), low.ID+"/open")
	})
}

// TestLeaseRestrictions: a lease request may name the submission, or the
// tasks, whose jobs it takes.
func TestLeaseRestrictions(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		a := mustTask(t, db, testingutil.MetricTask("lease-a", agora.Minimize))
		b := mustTask(t, db, testingutil.MetricTask("lease-b", agora.Minimize))
		sa1 := mustSubmit(t, db, &agora.Submission{TaskID: a.ID, Miner: "m1", Patch: "p1"})
		clk.Add(time.Second)
		sa2 := mustSubmit(t, db, &agora.Submission{TaskID: a.ID, Miner: "m2", Patch: "p2"})
		sb := mustSubmit(t, db, &agora.Submission{TaskID: b.ID, Miner: "m3", Patch: "p3"})
		lease := func(req agora.LeaseRequest) []string {
			t.Helper()
			req.Validator, req.Max = "v1", 10
			ls, err := db.LeaseJobs(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			var subs []string
			for _, l := range ls {
				subs = append(subs, l.Submission.ID)
			}
			return subs
		}
		if got := lease(agora.LeaseRequest{TaskIDs: []string{}}); len(got) != 0 {
			t.Fatalf("no tasks leased %v", got)
		}
		if got := lease(agora.LeaseRequest{SubmissionID: sa2.ID}); len(got) != 1 || got[0] != sa2.ID {
			t.Fatalf("by submission: %v", got)
		}
		if got := lease(agora.LeaseRequest{TaskIDs: []string{b.ID, "nope"}}); len(got) != 1 || got[0] != sb.ID {
			t.Fatalf("by tasks: %v", got)
		}
		if got := lease(agora.LeaseRequest{}); len(got) != 1 || got[0] != sa1.ID {
			t.Fatalf("the rest: %v", got)
		}
	})
}
