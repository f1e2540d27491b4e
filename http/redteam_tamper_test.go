package http_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/testingutil"
)

// The coordinator-level red team for runner tampering: a miner submits, as
// a signed request, a patch whose calc/__init__.py rewrites pytest's
// reports (plain and obfuscated). On a hidden task, and on a task whose
// competition pays, the coordinator must refuse it (422) naming the lines,
// and queue nothing; on a public task whose owner chose hold, it must
// store it held, with no job, until the owner releases it.

// tamperFix is the honest-looking part of the attack.
const tamperFix = "diff --git a/calc/ops.py b/calc/ops.py\nindex 1111111..2222222 100644\n--- a/calc/ops.py\n+++ b/calc/ops.py\n" +
	"@@ -10,3 +10,3 @@ def sub(a, b):\n def mean(xs):\n     \"\"\"Return the arithmetic mean of xs.\"\"\"\n-    return sum(xs) // len(xs)\n+    return sum(xs) / len(xs)\n"

// tamperInit appends payload to calc/__init__.py after its 5 lines, so the
// payload's first line is line 6.
func tamperInit(payload string) string {
	lines := strings.Split(strings.TrimSuffix(payload, "\n"), "\n")
	var b strings.Builder
	fmt.Fprintf(&b, "diff --git a/calc/__init__.py b/calc/__init__.py\nindex 3333333..4444444 100644\n--- a/calc/__init__.py\n+++ b/calc/__init__.py\n@@ -1,5 +1,%d @@\n", 5+len(lines))
	for _, l := range []string{`"""calc: a tiny calculator package."""`, "", "from calc.ops import add, mean, sub", "", `__all__ = ["add", "mean", "sub"]`} {
		b.WriteString(" " + l + "\n")
	}
	for _, l := range lines {
		b.WriteString("+" + l + "\n")
	}
	return tamperFix + b.String()
}

// tamperAttacks are the payloads and a line each refusal must name.
var tamperAttacks = []struct {
	name, payload, names string
}{
	{"FromItemAndCall", `import _pytest.reports as _reports

_orig = _reports.TestReport.from_item_and_call.__func__


def _fiac(cls, item, call):
    rep = _orig(cls, item, call)
    if rep.failed:
        rep.outcome = "passed"
        rep.longrepr = None
    return rep


_reports.TestReport.from_item_and_call = classmethod(_fiac)`, `"calc/__init__.py":6 runner-internals`},
	{"SplitName", `import importlib

_m = importlib.import_module("_pyt" + "est.reports")
_m.TestReport.from_item_and_call = classmethod(lambda c, i, k: None)`, `"calc/__init__.py":8 dynamic-import`},
	{"BuiltinsImport", `import builtins

_imp = getattr(builtins, "__imp" + "ort__")
_m = _imp("".join(["_py", "test", ".reports"]), fromlist=["x"])`, `"calc/__init__.py":8 builtins-rebind`},
	{"ForgeAtExit", `import atexit as _a
import os as _o

_a.register(lambda: (_o.write(1, b"PASSED tests/test_ops.py::test_mean\n"), _o._exit(0)))`, `"calc/__init__.py":9 atexit`},
}

// tamperTask creates a swe task from raw JSON (so the test reads the API as
// any client would) with the given extra fields.
func tamperTask(t *testing.T, e *env, slug string, extra map[string]any) *agora.Task {
	t.Helper()
	base := testingutil.SWETask(slug)
	b, _ := json.Marshal(base)
	var m map[string]any
	json.Unmarshal(b, &m)
	for k, v := range extra {
		m[k] = v
	}
	var out agora.Task
	if err := e.owner.CallJSON(ctx, "POST", "/api/v1/tasks", m, &out); err != nil {
		t.Fatalf("create task %s: %v", slug, err)
	}
	return &out
}

func TestRedTeamTamperRefused(t *testing.T) {
	for _, d := range testingutil.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := MustOpenServer(t, d, func(s *agorahttp.Server) {
				coordinatorOf(s).Rewards = []agora.RewardPolicy{{Competition: "paid", Mode: agora.RewardWinnerTakesAll, Budget: 1000}}
			})
			hidden := tamperTask(t, e, "tamper-hidden", map[string]any{"visibility": "hidden"})
			paid := tamperTask(t, e, "tamper-paid", map[string]any{"competition": "paid"})
			for _, task := range []*agora.Task{hidden, paid} {
				for _, a := range tamperAttacks {
					t.Run(task.Slug+"/"+a.name, func(t *testing.T) {
						sub, err := e.m1.Submit(ctx, agorahttp.SubmitRequest{TaskID: task.ID, Patch: tamperInit(a.payload)})
						if err == nil {
							t.Fatalf("attack accepted (status %s): it would be replayed", sub.Status)
						}
						if agora.ErrorCode(err) != agora.EUNPROCESSABLE {
							t.Fatalf("error %v, want unprocessable", err)
						}
						if msg := agora.ErrorMessage(err); !strings.Contains(msg, a.names) || strings.Contains(msg, "calc/ops.py") {
							t.Fatalf("refusal %q does not name %s (or blames the honest fix)", msg, a.names)
						}
					})
				}
				list, err := e.owner.Submissions(ctx, url.Values{"task_id": {task.ID}})
				if err != nil || list.Total != 0 {
					t.Fatalf("%s: %d submissions stored (%v), want none", task.Slug, list.Total, err)
				}
			}
			if leases, err := e.v1.LeaseJobs(ctx, agora.LeaseRequest{Max: 8}); err != nil || len(leases) != 0 {
				t.Fatalf("validators can lease %d jobs (%v), want none", len(leases), err)
			}
			// The honest fix alone goes through.
			if sub, err := e.m1.Submit(ctx, agorahttp.SubmitRequest{TaskID: hidden.ID, Patch: tamperFix}); err != nil || sub.Status != agora.SubmissionPending {
				t.Fatalf("honest patch: %v %+v", err, sub)
			}
		})
	}
}
