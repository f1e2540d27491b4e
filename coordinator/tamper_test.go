package coordinator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/coordinator"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/patch"
	"github.com/agoranet/agora/sqldb"
)

var ctx = context.Background()

// initDiff adds lines to calc/__init__.py (a new file).
func initDiff(body string) string {
	lines := strings.Split(body, "\n")
	var b strings.Builder
	fmt.Fprintf(&b, "diff --git a/calc/__init__.py b/calc/__init__.py\nnew file mode 100644\n--- /dev/null\n+++ b/calc/__init__.py\n@@ -0,0 +1,%d @@\n", len(lines))
	for _, l := range lines {
		b.WriteString("+" + l + "\n")
	}
	return b.String()
}

const attack = "import _pytest.reports as r\nr.TestReport.outcome = 'passed'"

func TestPaid(t *testing.T) {
	pols := []agora.RewardPolicy{
		{Competition: "budget", Mode: agora.RewardProportional, Budget: 10},
		{Competition: "weight", Mode: agora.RewardProportional, Weight: 1},
		{Competition: "zero", Mode: agora.RewardProportional},
	}
	for comp, want := range map[string]bool{"budget": true, "weight": true, "zero": false, "other": false, "": false} {
		if got := coordinator.Paid(pols, comp); got != want {
			t.Errorf("Paid(%q) = %v, want %v", comp, got, want)
		}
	}
}

func TestFindings(t *testing.T) {
	task := testingutil.SWETask("scan-repo")
	task.Environment = "pytest-dev/pytest"
	if got := coordinator.ScanRepo(task); got != "pytest-dev/pytest" {
		t.Errorf("ScanRepo = %q", got)
	}
	// pytest's own code may use _pytest: no finding for this repository.
	own := "diff --git a/src/_pytest/x.py b/src/_pytest/x.py\nnew file mode 100644\n--- /dev/null\n+++ b/src/_pytest/x.py\n@@ -0,0 +1 @@\n+import _pytest.reports\n"
	if fs := coordinator.Findings(task, own); len(fs) != 0 {
		t.Errorf("findings %v in pytest's own code", fs)
	}
	task.Environment = "calc"
	if fs := coordinator.Findings(task, initDiff(attack)); len(fs) < 2 || fs[0].Line != 1 || fs[len(fs)-1].Line != 2 {
		t.Errorf("findings %v, want lines 1 and 2", fs)
	}
	if fs := coordinator.Findings(task, "not a diff"); fs != nil {
		t.Errorf("an unparsable patch has findings %v; the harness refuses it", fs)
	}
}

func TestRefusalNamesFindings(t *testing.T) {
	var fs []patch.Finding
	for i := 1; i <= coordinator.MaxNamedFindings+5; i++ {
		fs = append(fs, patch.Finding{Path: "calc/__init__.py", Line: i, Rule: "atexit"})
	}
	err := coordinator.Refusal(fs)
	msg := agora.ErrorMessage(err)
	if agora.ErrorCode(err) != agora.EUNPROCESSABLE || !strings.Contains(msg, `"calc/__init__.py":1 atexit`) ||
		!strings.Contains(msg, `"calc/__init__.py":20 atexit`) || strings.Contains(msg, `:21 atexit`) || !strings.Contains(msg, "and 5 more") {
		t.Fatalf("refusal %v", err)
	}
}

// TestSubmit runs the gate over the real store on every database: the
// default policies, and both outcomes on swe and metric tasks.
func TestSubmit(t *testing.T) {
	for _, d := range testingutil.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			db, err := sqldb.Open(ctx, testingutil.DSN(t, d))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			g := &coordinator.TamperGate{Store: db, Rewards: []agora.RewardPolicy{{Competition: "paid", Mode: agora.RewardWinnerTakesAll, Budget: 5}}}
			mk := func(task *agora.Task) *agora.Task {
				task.CreatedBy = "owner"
				if err := db.CreateTask(ctx, task); err != nil {
					t.Fatal(err)
				}
				return task
			}
			public := mk(testingutil.SWETask("gate-public"))
			hidden := testingutil.SWETask("gate-hidden")
			hidden.Visibility = agora.VisibilityHidden
			mk(hidden)
			paid := testingutil.SWETask("gate-paid")
			paid.Competition = "paid"
			mk(paid)
			forcedReject := testingutil.SWETask("gate-forced")
			forcedReject.TamperPolicy = agora.TamperReject
			mk(forcedReject)
			metric := testingutil.MetricTask("gate-metric", agora.Minimize)
			metric.AllowedPatchPaths = []string{"**"}
			mk(metric)

			for _, task := range []*agora.Task{hidden, paid, forcedReject} {
				s := &agora.Submission{TaskID: task.ID, Miner: "m", Patch: initDiff(attack)}
				_, err := g.Submit(ctx, s)
				if agora.ErrorCode(err) != agora.EUNPROCESSABLE || !strings.Contains(agora.ErrorMessage(err), `"calc/__init__.py":1 runner-internals`) {
					t.Errorf("%s: %v, want a refusal naming the line", task.Slug, err)
				}
			}
			for _, task := range []*agora.Task{public, metric} {
				s := &agora.Submission{TaskID: task.Slug, Miner: "m", Patch: initDiff(attack)}
				created, err := g.Submit(ctx, s)
				if err != nil || !created || s.Status != agora.SubmissionHeld || s.TamperPolicy != agora.TamperHold || len(s.Hold.Findings) < 2 {
					t.Fatalf("%s: %v created=%v %+v", task.Slug, err, created, s)
				}
				_, err = g.Release(ctx, s.ID, "someone-else")
				if agora.ErrorCode(err) != agora.EFORBIDDEN {
					t.Fatalf("release by another: %v", err)
				}
				rel, err := g.Release(ctx, s.ID, "owner")
				if err != nil || rel.Status != agora.SubmissionPending {
					t.Fatalf("release: %v %+v", err, rel)
				}
			}
			// An honest patch on a paid task is stored as usual, with the
			// resolved policy frozen.
			s := &agora.Submission{TaskID: paid.ID, Miner: "m", Patch: initDiff("x = 1")}
			if _, err := g.Submit(ctx, s); err != nil || s.Status != agora.SubmissionPending || s.TamperPolicy != agora.TamperReject {
				t.Fatalf("honest: %v %+v", err, s)
			}
			// A miner cannot ask for a held status.
			s = &agora.Submission{TaskID: public.ID, Miner: "m", Patch: initDiff("x = 1"), Status: agora.SubmissionHeld,
				Hold: &agora.Hold{Findings: []agora.TamperFinding{{Path: "x", Line: 1, Rule: "r"}}}}
			if _, err := g.Submit(ctx, s); err != nil || s.Status != agora.SubmissionPending || s.Hold != nil {
				t.Fatalf("forged hold: %v %+v", err, s)
			}
			_, err = g.Reject(ctx, "nope", "owner")
			if agora.ErrorCode(err) != agora.ENOTFOUND {
				t.Fatalf("unknown: %v", err)
			}
		})
	}
}
