package dataset_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
)

var ctx = context.Background()

// Sentinels of the hidden task: none of them may appear in an export
// while the task is open.
const (
	hiddenStatement = "EMBARGOED-STATEMENT-xyzzy: the parser drops unicode"
	hiddenF2P       = "tests/test_hidden.py::test_embargo_sentinel_f2p"
	hiddenP2P       = "tests/test_hidden.py::test_embargo_sentinel_p2p"
	hiddenTestPatch = "diff --git a/tests/test_hidden.py b/tests/test_hidden.py\n+HIDDEN-TEST-PATCH-plugh\n"
	hiddenPatch     = "diff --git a/parser.py b/parser.py\n+HIDDEN-MINER-PATCH-quux\n"
	heldOutSeed     = "HELDOUT-SEED-31337"
	secretTest      = "test_prints_the_heldout_seed"
)

// start is the fixture clock's first reading.
var start = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

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

// ledger is a coordinator database with graded work on four tasks:
//   - public: a public swe task, quorum 2, with an accepted submission
//     (one result carries an agent's spend) and a disputed one;
//   - sealed: a metric task graded with a validator-only environment;
//   - open: a metric task without one, quorum 2;
//   - hidden: a hidden swe task, open, with an accepted submission;
//   - pending: a public task whose submission has no verdict yet.
type ledger struct {
	db                     *sqldb.DB
	clk                    *clock
	public, sealed, hidden *agora.Task
	open                   *agora.Task
	accepted, disputed     *agora.Submission
	metric, hiddenSub      *agora.Submission
	openSub                *agora.Submission
}

func newLedger(t testing.TB) *ledger {
	t.Helper()
	db, err := sqldb.Open(ctx, filepath.Join(t.TempDir(), "coordinator.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l := &ledger{db: db, clk: &clock{t: start}}
	db.Now = l.clk.Now

	l.public = testingutil.SWETask("calc-1")
	l.public.Quorum, l.public.Source = 2, "swe-bench"
	l.public.SWE.HintsText, l.public.SWE.Version = "see add()", "1.0"
	l.mustTask(t, l.public)
	l.accepted = l.submit(t, l.public, "miner-a", "diff --git a/calc.py b/calc.py\n+return a + b\n")
	l.disputed = l.submit(t, l.public, "miner-b", "diff --git a/calc.py b/calc.py\n+return a - b\n")
	pass := map[string]string{"test_calc.py::test_add": "PASSED", "test_calc.py::test_sub": "PASSED"}
	fail := map[string]string{"test_calc.py::test_add": "FAILED", "test_calc.py::test_sub": "PASSED"}
	l.grade(t, l.public, &agora.Result{Validator: "v1", Status: agora.ResultAccepted, Tests: pass, DurationMS: 1000,
		Agent: &agora.AgentReport{InferenceMicroUSD: 1200, EmbeddingMicroUSD: 30, Calls: 4, DurationMS: 900}})
	l.grade(t, l.public, &agora.Result{Validator: "v1", Status: agora.ResultAccepted, Tests: pass, DurationMS: 2000})
	l.grade(t, l.public, &agora.Result{Validator: "v2", Status: agora.ResultAccepted, Tests: pass, DurationMS: 3000})
	l.grade(t, l.public, &agora.Result{Validator: "v2", Status: agora.ResultRejected, Tests: fail, DurationMS: 5000,
		Reason: "not resolved: test_calc.py::test_add failed"})

	l.sealed = testingutil.MetricTask("bench-1", agora.Minimize)
	l.sealed.ValidatorEnv = map[string]string{"SEED": heldOutSeed}
	l.mustTask(t, l.sealed)
	l.metric = l.submit(t, l.sealed, "miner-c", "diff --git a/model/net.py b/model/net.py\n+lr = 0.1\n")
	l.grade(t, l.sealed, &agora.Result{Validator: "v1", Status: agora.ResultAccepted, DurationMS: 7000,
		Tests:           map[string]string{secretTest: "PASSED"},
		ObservedMetrics: map[string]float64{"loss": 1.5, "seed_was_" + "31337": 1},
		Notes:           "printed " + heldOutSeed})

	l.open = testingutil.MetricTask("bench-open", agora.Maximize)
	l.open.ValidatorEnv, l.open.Quorum, l.open.MetricName = nil, 2, "accuracy"
	l.mustTask(t, l.open)
	l.openSub = l.submit(t, l.open, "miner-f", "diff --git a/model/net.py b/model/net.py\n+depth = 4\n")
	l.grade(t, l.open, &agora.Result{Validator: "v1", Status: agora.ResultAccepted, DurationMS: 6000,
		ObservedMetrics: map[string]float64{"accuracy": 0.91, "wall_s": 12}})
	l.grade(t, l.open, &agora.Result{Validator: "v2", Status: agora.ResultAccepted, DurationMS: 8000,
		ObservedMetrics: map[string]float64{"accuracy": 0.93, "wall_s": 14}})

	l.hidden = testingutil.SWETask("hidden-1")
	l.hidden.Visibility = agora.VisibilityHidden
	l.hidden.SWE.ProblemStatement, l.hidden.SWE.TestPatch = hiddenStatement, hiddenTestPatch
	l.hidden.SWE.FailToPass, l.hidden.SWE.PassToPass = []string{hiddenF2P}, []string{hiddenP2P}
	l.mustTask(t, l.hidden)
	l.hiddenSub = l.submit(t, l.hidden, "miner-d", hiddenPatch)
	l.grade(t, l.hidden, &agora.Result{Validator: "v1", Status: agora.ResultAccepted, DurationMS: 4000,
		Tests: map[string]string{hiddenF2P: "PASSED", hiddenP2P: "PASSED"}})

	pending := testingutil.SWETask("pending-1")
	l.mustTask(t, pending)
	l.submit(t, pending, "miner-e", "diff --git a/x b/x\n")
	return l
}

func (l *ledger) mustTask(t testing.TB, task *agora.Task) {
	t.Helper()
	if err := l.db.CreateTask(ctx, task); err != nil {
		t.Fatalf("create task %s: %v", task.Slug, err)
	}
	l.clk.Add(time.Second)
}

func (l *ledger) submit(t testing.TB, task *agora.Task, miner, patch string) *agora.Submission {
	t.Helper()
	s := &agora.Submission{TaskID: task.ID, Miner: miner, Patch: patch}
	if _, err := l.db.CreateSubmission(ctx, s); err != nil {
		t.Fatalf("submit to %s: %v", task.Slug, err)
	}
	l.clk.Add(time.Second)
	return s
}

// grade leases the oldest job of task for r.Validator and records r.
func (l *ledger) grade(t testing.TB, task *agora.Task, r *agora.Result) {
	t.Helper()
	leases, err := l.db.LeaseJobs(ctx, agora.LeaseRequest{Validator: r.Validator, TaskID: task.ID, Max: 1, TTL: time.Hour})
	if err != nil || len(leases) != 1 {
		t.Fatalf("lease on %s for %s: %v %v", task.Slug, r.Validator, err, leases)
	}
	r.JobID = leases[0].Job.ID
	if _, _, err := l.db.RecordResult(ctx, r, []byte("log of "+r.Validator)); err != nil {
		t.Fatalf("result on %s by %s: %v", task.Slug, r.Validator, err)
	}
	l.clk.Add(time.Second)
}
