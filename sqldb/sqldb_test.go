package sqldb_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
)

// clock is a settable time source for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// forEachDB runs fn once per database.
func forEachDB(t *testing.T, fn func(t *testing.T, db *sqldb.DB, clk *clock)) {
	for _, dialect := range testingutil.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			db := MustOpen(t, dialect)
			clk := &clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
			db.Now = clk.Now
			fn(t, db, clk)
		})
	}
}

// MustOpen opens a fresh store of the given dialect.
func MustOpen(tb testing.TB, dialect string) *sqldb.DB {
	tb.Helper()
	db, err := sqldb.Open(context.Background(), testingutil.DSN(tb, dialect))
	if err != nil {
		tb.Fatalf("open %s: %v", dialect, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := agora.ErrorCode(err); got != code {
		t.Fatalf("error code %q (%v), want %q", got, err, code)
	}
}

var ctx = context.Background()

func mustTask(t *testing.T, db *sqldb.DB, task *agora.Task) *agora.Task {
	t.Helper()
	if err := db.CreateTask(ctx, task); err != nil {
		t.Fatalf("create task: %v", err)
	}
	return task
}

func mustSubmit(t *testing.T, db *sqldb.DB, s *agora.Submission) *agora.Submission {
	t.Helper()
	if _, err := db.CreateSubmission(ctx, s); err != nil {
		t.Fatalf("submit: %v", err)
	}
	return s
}

func TestTasks(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		task := mustTask(t, db, testingutil.SWETask("calc-1"))
		t.Run("Defaults", func(t *testing.T) {
			if task.ID == "" || task.Quorum != 1 || task.State != agora.TaskLive || task.MaxPatchBytes != 256<<10 {
				t.Fatalf("defaults not applied: %+v", task)
			}
		})
		t.Run("FindByIDOrSlug", func(t *testing.T) {
			for _, key := range []string{task.ID, "calc-1"} {
				got, err := db.FindTaskByID(ctx, key)
				if err != nil || got.ID != task.ID || got.SWE.GoldPatch == "" {
					t.Fatalf("find %s: %v %+v", key, err, got)
				}
			}
			_, err := db.FindTaskByID(ctx, "nope")
			wantCode(t, err, agora.ENOTFOUND)
		})
		t.Run("ErrDuplicateSlug", func(t *testing.T) {
			wantCode(t, db.CreateTask(ctx, testingutil.SWETask("calc-1")), agora.ECONFLICT)
		})
		t.Run("ErrUnpinnedBaseRef", func(t *testing.T) {
			bad := testingutil.SWETask("calc-2")
			bad.BaseRef = "main"
			wantCode(t, db.CreateTask(ctx, bad), agora.EUNPROCESSABLE)
		})
		t.Run("ImportAllOrNothing", func(t *testing.T) {
			bad := testingutil.MetricTask("m-bad", "sideways")
			err := db.ImportTasks(ctx, []*agora.Task{testingutil.SWETask("imp-1"), bad})
			wantCode(t, err, agora.EINVALID)
			if _, err := db.FindTaskByID(ctx, "imp-1"); agora.ErrorCode(err) != agora.ENOTFOUND {
				t.Fatalf("half an import was stored: %v", err)
			}
			if err := db.ImportTasks(ctx, []*agora.Task{testingutil.SWETask("imp-1"), testingutil.MetricTask("imp-2", agora.Minimize)}); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("Filter", func(t *testing.T) {
			kind := agora.TaskMetric
			got, n, err := db.FindTasks(ctx, agora.TaskFilter{Kind: &kind})
			if err != nil || n != 1 || len(got) != 1 || got[0].Slug != "imp-2" {
				t.Fatalf("filter: %v n=%d %v", err, n, got)
			}
			all, n, _ := db.FindTasks(ctx, agora.TaskFilter{Limit: 2})
			if n != 3 || len(all) != 2 {
				t.Fatalf("page: n=%d len=%d", n, len(all))
			}
		})
		t.Run("State", func(t *testing.T) {
			got, err := db.SetTaskState(ctx, "imp-1", agora.TaskPaused)
			if err != nil || got.State != agora.TaskPaused {
				t.Fatal(err)
			}
			_, err = db.SetTaskState(ctx, "imp-1", "asleep")
			wantCode(t, err, agora.EINVALID)
			_, err = db.CreateSubmission(ctx, &agora.Submission{TaskID: "imp-1", Miner: "m", Patch: "x"})
			wantCode(t, err, agora.EINVALID)
		})
	})
}

func TestClaims(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		task := mustTask(t, db, testingutil.SWETask("calc-1"))
		c := &agora.Claim{TaskID: task.Slug, Miner: "alice", Description: "fix it"}
		if err := db.CreateClaim(ctx, c); err != nil {
			t.Fatal(err)
		}
		if c.TaskID != task.ID || !c.ExpiresAt.Equal(clk.Now().Add(agora.DefaultClaimTTL)) {
			t.Fatalf("claim: %+v", c)
		}
		wantCode(t, db.CreateClaim(ctx, &agora.Claim{TaskID: task.ID, Miner: "alice"}), agora.ECONFLICT)
		if err := db.CreateClaim(ctx, &agora.Claim{TaskID: task.ID, Miner: "bob"}); err != nil {
			t.Fatalf("claims are not exclusive between miners: %v", err)
		}
		_, err := db.CancelClaim(ctx, c.ID, "bob")
		wantCode(t, err, agora.EFORBIDDEN)
		got, err := db.CancelClaim(ctx, c.ID, "alice")
		if err != nil || got.Status != agora.ClaimCancelled {
			t.Fatalf("cancel: %v %+v", err, got)
		}
		_, err = db.CancelClaim(ctx, c.ID, "alice")
		wantCode(t, err, agora.ECONFLICT)
		// After expiry a miner may claim again.
		if err := db.CreateClaim(ctx, &agora.Claim{TaskID: task.ID, Miner: "alice"}); err != nil {
			t.Fatal(err)
		}
		clk.Add(agora.DefaultClaimTTL + time.Second)
		if err := db.CreateClaim(ctx, &agora.Claim{TaskID: task.ID, Miner: "alice"}); err != nil {
			t.Fatalf("claim after expiry: %v", err)
		}
		expired := agora.ClaimExpired
		_, n, err := db.FindClaims(ctx, agora.ClaimFilter{Status: &expired})
		if err != nil || n != 2 { // bob's and alice's second
			t.Fatalf("expired claims: %v n=%d", err, n)
		}
	})
}

func TestSubmissions(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		swe := testingutil.SWETask("calc-1")
		swe.Quorum = 2
		mustTask(t, db, swe)
		t.Run("CreatesSpecAndJobs", func(t *testing.T) {
			s := mustSubmit(t, db, &agora.Submission{TaskID: swe.ID, Miner: "alice", Patch: "diff --git a/calc.py b/calc.py\n"})
			if s.Status != agora.SubmissionPending || s.BaseRef != swe.BaseRef || s.ReplaySpecHash == "" {
				t.Fatalf("submission: %+v", s)
			}
			spec, err := db.FindReplaySpec(ctx, s.ReplaySpecHash)
			if err != nil || agora.SHA256Hex(spec) != s.ReplaySpecHash {
				t.Fatalf("spec is not content-addressed: %v", err)
			}
			jobs, n, _ := db.FindJobs(ctx, agora.JobFilter{SubmissionID: &s.ID})
			if n != 2 || jobs[0].Status != agora.JobQueued {
				t.Fatalf("jobs: %d %+v", n, jobs)
			}
		})
		t.Run("Idempotent", func(t *testing.T) {
			s1 := &agora.Submission{TaskID: swe.ID, Miner: "alice", ClientKey: "k1", Patch: "p1"}
			created, err := db.CreateSubmission(ctx, s1)
			if err != nil || !created {
				t.Fatal(err)
			}
			s2 := &agora.Submission{TaskID: swe.ID, Miner: "alice", ClientKey: "k1", Patch: "p1"}
			created, err = db.CreateSubmission(ctx, s2)
			if err != nil || created || s2.ID != s1.ID {
				t.Fatalf("retry: created=%v err=%v id=%s want %s", created, err, s2.ID, s1.ID)
			}
			_, err = db.CreateSubmission(ctx, &agora.Submission{TaskID: swe.ID, Miner: "alice", ClientKey: "k1", Patch: "p2"})
			wantCode(t, err, agora.ECONFLICT)
			// Another miner's key space is separate.
			if _, err := db.CreateSubmission(ctx, &agora.Submission{TaskID: swe.ID, Miner: "bob", ClientKey: "k1", Patch: "p2"}); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("Errors", func(t *testing.T) {
			for _, tc := range []struct {
				name string
				s    *agora.Submission
				code string
			}{
				{"Empty", &agora.Submission{TaskID: swe.ID, Miner: "a"}, agora.EINVALID},
				{"TooLarge", &agora.Submission{TaskID: swe.ID, Miner: "a", Patch: string(make([]byte, 256<<10+1))}, agora.ETOOLARGE},
				{"OtherBase", &agora.Submission{TaskID: swe.ID, Miner: "a", Patch: "p", BaseRef: "ffffffffffffffffffffffffffffffffffffffff"}, agora.EUNPROCESSABLE},
				{"UnknownTask", &agora.Submission{TaskID: "nope", Miner: "a", Patch: "p"}, agora.ENOTFOUND},
				{"ArtifactOnSWE", &agora.Submission{TaskID: swe.ID, Miner: "a", Patch: "p", Artifact: &agora.Artifact{URI: "https://x/y", SHA256: fmt.Sprintf("%064x", 1), Size: 1}}, agora.EINVALID},
				{"UnknownClaim", &agora.Submission{TaskID: swe.ID, Miner: "a", Patch: "p", ClaimID: "nope"}, agora.EINVALID},
			} {
				t.Run(tc.name, func(t *testing.T) {
					before, _, _ := db.FindSubmissions(ctx, agora.SubmissionFilter{})
					_, err := db.CreateSubmission(ctx, tc.s)
					wantCode(t, err, tc.code)
					after, _, _ := db.FindSubmissions(ctx, agora.SubmissionFilter{})
					if len(after) != len(before) {
						t.Fatal("a refused submission was stored")
					}
				})
			}
		})
		t.Run("Claim", func(t *testing.T) {
			c := &agora.Claim{TaskID: swe.ID, Miner: "carol"}
			if err := db.CreateClaim(ctx, c); err != nil {
				t.Fatal(err)
			}
			_, err := db.CreateSubmission(ctx, &agora.Submission{TaskID: swe.ID, Miner: "dave", ClaimID: c.ID, Patch: "p"})
			wantCode(t, err, agora.EFORBIDDEN)
			mustSubmit(t, db, &agora.Submission{TaskID: swe.ID, Miner: "carol", ClaimID: c.ID, Patch: "p"})
			mine := "carol"
			claims, _, _ := db.FindClaims(ctx, agora.ClaimFilter{Miner: &mine})
			if claims[0].Status != agora.ClaimSubmitted {
				t.Fatalf("claim status %s", claims[0].Status)
			}
		})
	})
}

// submitN creates n submissions on task by distinct miners.
func submitN(t *testing.T, db *sqldb.DB, task *agora.Task, n int) []*agora.Submission {
	var out []*agora.Submission
	for i := 0; i < n; i++ {
		out = append(out, mustSubmit(t, db, &agora.Submission{TaskID: task.ID, Miner: fmt.Sprintf("miner-%d", i), Patch: fmt.Sprintf("patch %d", i)}))
	}
	return out
}

func TestLeaseConcurrent(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		task := testingutil.SWETask("calc-1")
		task.Quorum = 2
		mustTask(t, db, task)
		subs := submitN(t, db, task, 30)
		// Four validators lease concurrently until the queue is empty.
		var mu sync.Mutex
		got := map[string]string{}          // job -> validator
		per := map[string]map[string]bool{} // submission -> validators
		var wg sync.WaitGroup
		for v := 0; v < 4; v++ {
			wg.Add(1)
			go func(v string) {
				defer wg.Done()
				for {
					leases, err := db.LeaseJobs(ctx, agora.LeaseRequest{Validator: v, Max: 3, TTL: time.Minute})
					if err != nil {
						t.Error(err)
						return
					}
					if len(leases) == 0 {
						return
					}
					mu.Lock()
					for _, l := range leases {
						if prev, dup := got[l.Job.ID]; dup {
							t.Errorf("job %s leased to %s and %s", l.Job.ID, prev, v)
						}
						got[l.Job.ID] = v
						if per[l.Submission.ID] == nil {
							per[l.Submission.ID] = map[string]bool{}
						}
						if per[l.Submission.ID][v] {
							t.Errorf("validator %s got two jobs of submission %s", v, l.Submission.ID)
						}
						per[l.Submission.ID][v] = true
					}
					mu.Unlock()
				}
			}(fmt.Sprintf("validator-%d", v))
		}
		wg.Wait()
		if len(got) != 2*len(subs) {
			t.Fatalf("leased %d jobs, want %d", len(got), 2*len(subs))
		}
	})
}

func TestLeaseExpiry(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		db.MaxAttempts = 2
		task := mustTask(t, db, testingutil.SWETask("calc-1"))
		s := submitN(t, db, task, 1)[0]
		l, err := db.LeaseJobs(ctx, agora.LeaseRequest{Validator: "v1", TTL: time.Minute})
		if err != nil || len(l) != 1 {
			t.Fatal(err, l)
		}
		if again, _ := db.LeaseJobs(ctx, agora.LeaseRequest{Validator: "v2", TTL: time.Minute}); len(again) != 0 {
			t.Fatal("a held job was leased twice")
		}
		// Renewing keeps it; once the lease lapses it is back in the queue.
		clk.Add(50 * time.Second)
		if _, err := db.RenewLease(ctx, l[0].Job.ID, "v1", time.Minute); err != nil {
			t.Fatal(err)
		}
		_, err = db.RenewLease(ctx, l[0].Job.ID, "v2", time.Minute)
		wantCode(t, err, agora.EFORBIDDEN)
		clk.Add(50 * time.Second)
		if again, _ := db.LeaseJobs(ctx, agora.LeaseRequest{Validator: "v2", TTL: time.Minute}); len(again) != 0 {
			t.Fatal("a renewed lease was taken")
		}
		clk.Add(time.Minute)
		if n, err := db.ExpireLeases(ctx); err != nil || n != 1 {
			t.Fatalf("expire: %d %v", n, err)
		}
		l2, err := db.LeaseJobs(ctx, agora.LeaseRequest{Validator: "v2", TTL: time.Minute})
		if err != nil || len(l2) != 1 || l2[0].Job.Attempts != 2 {
			t.Fatalf("re-lease: %v %+v", err, l2)
		}
		// v1's late result is refused: v2 holds the job now.
		_, _, err = db.RecordResult(ctx, &agora.Result{JobID: l[0].Job.ID, Validator: "v1", Status: agora.ResultAccepted}, nil)
		wantCode(t, err, agora.EFORBIDDEN)
		// The last attempt lapses too: the job fails and the verdict is error.
		clk.Add(2 * time.Minute)
		if _, err := db.ExpireLeases(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := db.FindSubmissionByID(ctx, s.ID)
		if got.Status != agora.SubmissionError || got.Verdict == nil {
			t.Fatalf("after attempts ran out: %s %+v", got.Status, got.Verdict)
		}
	})
}

func TestResultsAndVerdicts(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		task := testingutil.MetricTask("bench", agora.Minimize)
		task.Quorum = 3
		task.Tolerance = 0.01
		mustTask(t, db, task)
		s := submitN(t, db, task, 1)[0]
		metrics := []float64{2.0, 2.1, 1.9}
		var jobs []string
		for i := range metrics {
			l, err := db.LeaseJobs(ctx, agora.LeaseRequest{Validator: fmt.Sprintf("v%d", i)})
			if err != nil || len(l) != 1 {
				t.Fatal(err, l)
			}
			jobs = append(jobs, l[0].Job.ID)
		}
		for i, m := range metrics {
			r := &agora.Result{JobID: jobs[i], Validator: fmt.Sprintf("v%d", i), Status: agora.ResultAccepted,
				ObservedMetrics: map[string]float64{"loss": m}}
			stored, created, err := db.RecordResult(ctx, r, []byte(fmt.Sprintf("log of v%d\nloss=%v\n", i, m)))
			if err != nil || !created || stored.LogSHA256 == "" {
				t.Fatalf("result %d: %v %v", i, err, created)
			}
			if i == 0 {
				// The same result again is fine; a different one is not.
				again := *r
				if _, created, err := db.RecordResult(ctx, &again, nil); err != nil || created {
					t.Fatalf("re-post: %v created=%v", err, created)
				}
				other := *r
				other.ObservedMetrics = map[string]float64{"loss": 9}
				_, _, err := db.RecordResult(ctx, &other, nil)
				wantCode(t, err, agora.ECONFLICT)
				log, err := db.FindBlob(ctx, stored.LogSHA256)
				if err != nil || string(log) != "log of v0\nloss=2\n" {
					t.Fatalf("log by hash: %q %v", log, err)
				}
				got, _ := db.FindSubmissionByID(ctx, s.ID)
				if got.Verdict != nil {
					t.Fatal("verdict before quorum")
				}
			}
		}
		got, _ := db.FindSubmissionByID(ctx, s.ID)
		v := got.Verdict
		if got.Status != agora.SubmissionAccepted || v == nil || v.Metrics["loss"] != 2.0 || !v.Disputed {
			t.Fatalf("verdict: %s %+v", got.Status, v)
		}
		events, _ := db.FindEvents(ctx, 0, 100)
		last := events[len(events)-1]
		if last.Type != agora.EventVerdict {
			t.Fatalf("last event %s", last.Type)
		}
	})
}

func TestPeerEvaluation(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		task := testingutil.MetricTask("peer", agora.Maximize)
		task.CompetitionMode = agora.ModePeerEvaluation
		task.MinPeerEvaluations = 2
		mustTask(t, db, task)
		s := mustSubmit(t, db, &agora.Submission{TaskID: task.ID, Miner: "alice", Patch: "p"})
		if jobs, n, _ := db.FindJobs(ctx, agora.JobFilter{}); n != 0 {
			t.Fatalf("peer tasks get no validator jobs: %v", jobs)
		}
		if _, err := db.AssignEvaluators(ctx, s.ID, []string{"alice", "bob", "carol"}); err != nil {
			t.Fatal(err)
		}
		eval := func(who string, m float64) error {
			_, err := db.RecordPeerEvaluation(ctx, &agora.Result{SubmissionID: s.ID, Validator: who, Status: agora.ResultAccepted, ObservedMetrics: map[string]float64{"loss": m}})
			return err
		}
		wantCode(t, eval("alice", 1), agora.EFORBIDDEN)
		if err := eval("bob", 3); err != nil {
			t.Fatal(err)
		}
		wantCode(t, eval("bob", 3), agora.ECONFLICT)
		if err := eval("carol", 5); err != nil {
			t.Fatal(err)
		}
		got, _ := db.FindSubmissionByID(ctx, s.ID)
		if got.Status != agora.SubmissionAccepted || got.Verdict.Metrics["loss"] != 4 {
			t.Fatalf("peer verdict: %s %+v", got.Status, got.Verdict)
		}
		wantCode(t, eval("dave", 5), agora.EFORBIDDEN) // not assigned
	})
}

func TestNonces(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		exp := clk.Now().Add(time.Minute)
		for i, want := range []bool{true, false} {
			fresh, err := db.Seen(ctx, "alice", "n1", exp)
			if err != nil || fresh != want {
				t.Fatalf("try %d: fresh=%v err=%v", i, fresh, err)
			}
		}
		if fresh, _ := db.Seen(ctx, "bob", "n1", exp); !fresh {
			t.Fatal("nonces are per signer")
		}
	})
}

func TestReopenKeepsEverything(t *testing.T) {
	path := testingutil.DSN(t, "sqlite")
	db, err := sqldb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	task := mustTask(t, db, testingutil.SWETask("calc-1"))
	subs := submitN(t, db, task, 5)
	db.Close()
	db, err = sqldb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, n, err := db.FindSubmissions(ctx, agora.SubmissionFilter{})
	if err != nil || n != len(subs) {
		t.Fatalf("after reopen: %v n=%d", err, n)
	}
	ids := func(s []*agora.Submission) []string {
		var out []string
		for _, x := range s {
			out = append(out, x.ID)
		}
		sort.Strings(out)
		return out
	}
	if fmt.Sprint(ids(got)) != fmt.Sprint(ids(subs)) {
		t.Fatal("submissions changed across reopen")
	}
}
