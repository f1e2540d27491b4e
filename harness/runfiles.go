package harness

import (
	"bytes"
	"path/filepath"
	"strings"
	"time"

	"github.com/agoranet/agora/swebench"
)

// appliedMarker starts the line prepareScript prints once the model patch
// is in.
const appliedMarker = ">>>>> Applied Patch ("

// patchApplied reports whether the evaluation got the model patch in, the
// point from which SWE-bench writes eval.sh.
func patchApplied(res *SWEResult) bool {
	return bytes.Contains(res.Log, []byte(appliedMarker))
}

// instanceLog is run_instance.log of an evaluated instance: its steps in
// SWE-bench's format and, where a step has a counterpart in SWE-bench's
// run_instance, in its words (with "sandbox" for "container"). The steps
// are dated from res.Started and res.Timings; dir is the instance's log
// directory as SWE-bench names it (relative, as in its messages), and
// evalScript the path of eval.sh ("" when none was written).
func instanceLog(dir string, inst *swebench.Instance, env *Env, res *SWEResult, evalScript string) []byte {
	var l swebench.InstanceLog
	id, tm, t := inst.InstanceID, res.Timings, res.Started
	prep, _, tested := bytes.Cut(res.Log, []byte(StartMarker+"\n"))
	prepared := res.Log != nil
	if tm.Checkout > 0 || tm.Environment > 0 || prepared {
		l.Info(t, "Checking out %s at %s for %s...", inst.Repo, inst.BaseCommit, id)
		t = t.Add(tm.Checkout)
	}
	if tm.Environment > 0 || prepared {
		name := ""
		if env != nil {
			name = env.Name
		}
		l.Info(t, "Environment %s for %s ready", name, id)
		t = t.Add(tm.Environment)
	}
	if prepared {
		l.Info(t, "Intermediate patch for %s written to %s, now applying to sandbox...", id, filepath.Join(dir, swebench.LogPatch))
		t = t.Add(tm.Prepare)
		out := string(prep)
		for _, line := range strings.Split(out, "\n") {
			if cmd, ok := strings.CutPrefix(line, ">>>>> Patch attempt failed: "); ok {
				l.Info(t, "Failed to apply patch to sandbox: %s", cmd)
			}
		}
		switch {
		case patchApplied(res):
			// The output of the command that applied the patch: not
			// the failed attempts before it, nor what follows (install,
			// test patch), which is the eval script's in SWE-bench.
			i := strings.Index(out, appliedMarker)
			if j := strings.IndexByte(out[i:], '\n'); j >= 0 {
				out = out[:i+j]
			}
			if k := strings.LastIndex(out, "\n>>>>> Patch attempt failed: "); k >= 0 {
				if j := strings.IndexByte(out[k+1:], '\n'); j >= 0 {
					out = out[k+1+j+1:]
				}
			}
			l.Info(t, ">>>>> Applied Patch:\n%s", out)
		case res.ErrKind == ErrKindPatchApply:
			l.Info(t, ">>>>> Patch Apply Failed:\n%s", strings.TrimRight(out, "\n"))
		default:
			// Stopped before the patch was in (a timeout): there is no
			// test_output.txt, so the output is kept here.
			l.Info(t, "Preparation output:\n%s", strings.TrimRight(out, "\n"))
		}
		for _, p := range res.IgnoredTestEdits {
			l.Info(t, "Model change to test file %s undone before the tests", p)
		}
		if evalScript != "" {
			l.Info(t, "Eval script for %s written to %s; copying to sandbox...", id, evalScript)
		}
	}
	if tested {
		t = t.Add(tm.Test)
		l.Info(t, "Test runtime: %s seconds", swebench.PySeconds(tm.Test))
		l.Info(t, "Test output for %s written to %s", id, filepath.Join(dir, swebench.LogTestOutput))
	}
	if res.Err != nil || res.Report == nil {
		logEvaluationError(&l, res.Started.Add(tm.Total), id, res.ErrKind, res.Err)
		return l.Bytes()
	}
	l.Info(t, "Grading answer for %s...", id)
	repr, err := res.Report.Repr(id)
	if err != nil {
		repr = "?"
	}
	resolved := "False"
	if res.Report.Resolved {
		resolved = "True"
	}
	l.Info(t, "report: %s\nResult for %s: resolved: %s", repr, id, resolved)
	return l.Bytes()
}

// logEvaluationError logs why an instance has no report, as SWE-bench's
// EvaluationError reads ("Error in evaluation for ID: why"), with Agora's
// error kind.
func logEvaluationError(l *swebench.InstanceLog, t time.Time, id, kind string, err error) {
	msg := "no report"
	if err != nil {
		msg = strings.TrimPrefix(err.Error(), id+": ")
	}
	l.Info(t, "Error in evaluation for %s: %s (%s)", id, msg, kind)
}
