package forge_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/agoranet/agora/forge"
	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/internal/fixture"
	"github.com/agoranet/agora/swebench"
)

// mustValidator returns a validator on a real sandbox over the fixture
// mirrors in root, or skips when the host cannot run sandboxes.
func mustValidator(tb testing.TB, root string) *forge.Validator {
	tb.Helper()
	return &forge.Validator{Evaluator: fixture.Evaluator(tb, root), Envs: fixture.EnvFile(tb)}
}

// TestMineFixtures mines the Python fixture repository. Its history holds
// two changes with tests: the commit that introduced mean(), whose message
// ("Add mean()") is too short to state a problem, and the upstream fix,
// whose task must be the fixture's own instance exactly. (The Go fixture
// mines the same way; its environment takes minutes to build, so CI
// mines it only through synthesis.)
func TestMineFixtures(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		name string
		repo *fixture.Repo
	}{
		{"python", fixture.PythonRepo(t, root)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.repo
			mirror := fixture.Mirror(t, r, root)
			v := mustValidator(t, root)
			var got []*swebench.Instance
			var outcomes []forge.Outcome
			st, err := forge.Mine(context.Background(), forge.MineOptions{
				Repo: r.Owner + "/" + r.Name, Dir: mirror, Validator: v,
				Progress: func(o forge.Outcome) { outcomes = append(outcomes, o) },
			}, func(in *swebench.Instance) error { got = append(got, in); return nil })
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("stats %+v outcomes %+v", st, outcomes)
			if len(got) != 1 || st.Kept != 1 || st.Commits != 3 || st.Reasons["problem statement too short once the solution is taken out"] != 1 || st.Reasons["root commit"] != 1 {
				t.Fatalf("mined %d tasks from %d commits, want 1 of 3: %+v", len(got), st.Commits, st)
			}
			fix := got[0] // newest first
			if fix.BaseCommit != r.Base || fix.Patch != r.Patches[fixture.Gold] || fix.TestPatch != r.Instance.TestPatch {
				t.Fatalf("fix task: base %s patch %q", fix.BaseCommit, fix.Patch)
			}
			want := slices.Sorted(slices.Values(r.FailToPass))
			if !slices.Equal(fix.FailToPass, want) {
				t.Errorf("FAIL_TO_PASS %q, want %q", fix.FailToPass, want)
			}
			if wantP := slices.Sorted(slices.Values(r.PassToPass)); !slices.Equal(fix.PassToPass, wantP) {
				t.Errorf("PASS_TO_PASS %q, want %q", fix.PassToPass, wantP)
			}
			if fix.Version != "0.1" || fix.InstanceID != r.Owner+"__"+r.Name+"-"+r.Later[:12] || !strings.HasPrefix(fix.ProblemStatement, "Fix ") {
				t.Errorf("fix task %s version %q statement %q", fix.InstanceID, fix.Version, fix.ProblemStatement)
			}
			rec, ok := forge.RecordOf(fix)
			if !ok || rec.Provenance.Source != forge.SourceMined || rec.Provenance.Commit != r.Later || len(rec.Provenance.Validation) != 6 ||
				rec.Features.FailToPass != len(r.FailToPass) || rec.Features.FilesChanged != 1 || rec.Features.StatementChars != len(fix.ProblemStatement) {
				t.Fatalf("forge record %+v", rec)
			}

			// The row grades as it is written: resolved with its gold
			// patch, not with an empty one.
			env, err := v.Envs.Find(fix.Repo, fix.Version)
			if err != nil {
				t.Fatal(err)
			}
			row := roundTrip(t, fix)
			if res := v.Evaluator.EvaluateSWE(context.Background(), row, env, row.Patch, harness.SWEOptions{}); !res.Resolved() {
				t.Fatalf("gold not resolved: %s %v", res.ErrKind, res.Err)
			}
			if res := v.Evaluator.EvaluateSWE(context.Background(), row, env, "", harness.SWEOptions{}); res.Resolved() {
				t.Fatal("empty patch resolved")
			}

			// Mining again with the first run's tasks known makes none.
			known := forge.NewKnown()
			for _, in := range got {
				known.Add(*in)
			}
			st2, err := forge.Mine(context.Background(), forge.MineOptions{Repo: r.Owner + "/" + r.Name, Dir: mirror, Validator: v, Known: known},
				func(in *swebench.Instance) error { t.Errorf("mined %s again", in.InstanceID); return nil })
			if err != nil || st2.Duplicates != 1 || st2.ValidateMS != 0 {
				t.Fatalf("second run: %+v %v", st2, err)
			}
		})
	}
}

// roundTrip writes inst as a JSONL row and loads it back, as `agora eval`
// would read the forge's output.
func roundTrip(t *testing.T, inst *swebench.Instance) *swebench.Instance {
	t.Helper()
	data, err := inst.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	insts, errs, err := swebench.ParseInstances("tasks.jsonl", append(data, '\n'))
	if err != nil || len(errs) > 0 || len(insts) != 1 {
		t.Fatalf("reload: %v %v", err, errs)
	}
	return &insts[0]
}
