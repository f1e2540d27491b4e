package forge_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agoranet/agora/forge"
	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/internal/fakeopenai"
	"github.com/agoranet/agora/internal/fixture"
	"github.com/agoranet/agora/swebench"
)

// TestSynthPython synthesizes tasks from the Python fixture at its fixed,
// all-passing commit and grades every one as `agora eval` would: gold
// resolves, the empty patch does not. The forge repository is a mirror of
// the fixture at the path the evaluator reads repositories from.
func TestSynthPython(t *testing.T) {
	root := t.TempDir()
	r := fixture.PythonRepo(t, "")
	forgeDir := fixture.Mirror(t, r, root)
	v := mustValidator(t, root)
	v.Runs = 2
	// Statements are rewritten by a scripted model that prefixes them.
	fake := fakeopenai.Start()
	defer fake.Close()
	fake.SetHandle(func(req fakeopenai.Request) fakeopenai.Reply {
		msgs, _ := req.JSON["messages"].([]any)
		last, _ := msgs[len(msgs)-1].(map[string]any)
		content, _ := last["content"].(string)
		return fakeopenai.Reply{Content: "Reported by a user:\n\n" + content}
	})
	rw := &forge.ChatRewriter{BaseURL: fake.URL, Model: "gpt-test"}
	var got []*swebench.Instance
	var outcomes []forge.Outcome
	st, err := forge.Synth(context.Background(), forge.SynthOptions{
		Repo: r.Owner + "/" + r.Name, Commit: r.Later, ForgeDir: forgeDir, Version: "0.1", Validator: v, Limit: 2, MaxMutants: 8,
		Rewrite:  rw.Rewrite,
		Progress: func(o forge.Outcome) { outcomes = append(outcomes, o) },
	}, func(in *swebench.Instance) error { got = append(got, in); return nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outcomes {
		t.Logf("%s %s: kept %q reason %q (%s)", o.Operator, o.Target, o.Kept, o.Reason, o.Validation)
	}
	t.Logf("stats %+v", st)
	if len(got) == 0 || st.Kept != len(got) || st.BaselinePassed == 0 || st.Proposed == 0 || st.RewriteRefused != 0 || fake.Count() != len(got) {
		t.Fatalf("synthesized %d tasks: %+v", len(got), st)
	}
	for _, in := range got {
		rec, ok := forge.RecordOf(in)
		if !ok || rec.Provenance.Source != forge.SourceSynthesized || rec.Provenance.Commit != r.Later || rec.Provenance.Operator == "" ||
			!strings.HasPrefix(rec.Provenance.Target, "calc/") || len(in.FailToPass) == 0 {
			t.Fatalf("%s: record %+v F2P %q", in.InstanceID, rec, in.FailToPass)
		}
		// The base is the mutant with its tests hidden; it is stored
		// under refs/forge/<id> and has no history to give the answer.
		ref := strings.TrimSpace(fixture.MustGit(t, forgeDir, "rev-parse", "refs/forge/"+in.InstanceID))
		if ref != in.BaseCommit {
			t.Fatalf("%s: refs/forge points at %s, base is %s", in.InstanceID, ref, in.BaseCommit)
		}
		if parents := strings.Fields(fixture.MustGit(t, forgeDir, "rev-list", "--parents", "-n1", in.BaseCommit)); len(parents) != 1 {
			t.Fatalf("%s: base has parents %q", in.InstanceID, parents[1:])
		}
		for _, f := range fileList(in.TestPatch) {
			if _, err := fixture.Git(forgeDir, "cat-file", "-e", in.BaseCommit+":"+f); err == nil {
				t.Errorf("%s: test file %s is not hidden at the base", in.InstanceID, f)
			}
		}
		if strings.Contains(in.ProblemStatement, "@@") || !strings.Contains(in.ProblemStatement, in.FailToPass[0]) ||
			!strings.HasPrefix(in.ProblemStatement, "Reported by a user:\n\nAfter a recent change, `calc.ops.") {
			t.Errorf("%s: statement %q", in.InstanceID, in.ProblemStatement)
		}
		t.Logf("task %s (%s %s)\n%s\nF2P %q\ngold:\n%s", in.InstanceID, rec.Provenance.Operator, rec.Provenance.Target, in.ProblemStatement, in.FailToPass, in.Patch)

		env, err := v.Envs.Find(in.Repo, in.Version)
		if err != nil {
			t.Fatal(err)
		}
		row := roundTrip(t, in)
		if res := v.Evaluator.EvaluateSWE(context.Background(), row, env, row.Patch, harness.SWEOptions{}); !res.Resolved() {
			t.Fatalf("%s: gold not resolved: %s %v", in.InstanceID, res.ErrKind, res.Err)
		}
		if res := v.Evaluator.EvaluateSWE(context.Background(), row, env, "", harness.SWEOptions{}); res.Resolved() {
			t.Fatalf("%s: empty patch resolved", in.InstanceID)
		}
	}

	// Again with those tasks known: the same mutants are duplicates.
	known := forge.NewKnown()
	for _, in := range got {
		known.Add(*in)
	}
	st2, err := forge.Synth(context.Background(), forge.SynthOptions{
		Repo: r.Owner + "/" + r.Name, Commit: r.Later, ForgeDir: forgeDir, Version: "0.1", Validator: v, Known: known, MaxMutants: st.Rejected + 1,
	}, func(in *swebench.Instance) error {
		if slices.ContainsFunc(got, func(g *swebench.Instance) bool { return g.Patch == in.Patch }) {
			t.Errorf("made %s again", in.InstanceID)
		}
		return nil
	})
	if err != nil || st2.Duplicates < len(got) {
		t.Fatalf("second run: %+v %v", st2, err)
	}
}

// fileList is the files a diff names.
func fileList(diff string) []string {
	var out []string
	for _, l := range strings.Split(diff, "\n") {
		if p, ok := strings.CutPrefix(l, "+++ b/"); ok {
			out = append(out, p)
		}
	}
	return out
}

// TestSynthRejectsImportBreak synthesizes from a module that calls one of
// its functions at import: flipping that function's check makes the
// module fail to import, so the tests fail without saying anything about
// the function. Such mutants are rejected, not kept as tasks.
func TestSynthRejectsImportBreak(t *testing.T) {
	root := t.TempDir()
	work := t.TempDir()
	files := map[string]string{
		"pyproject.toml":    fixture.PyPyproject,
		"calc/__init__.py":  "",
		"calc/ops.py":       "def _check(n):\n    if n < 0:\n        raise ValueError(\"negative\")\n    return n\n\n\nLIMIT = _check(3)\n",
		"tests/test_ops.py": "import calc.ops\n\n\ndef test_imports():\n    # calc.ops._check runs at import\n    assert calc.ops.__name__ == \"calc.ops\"\n",
	}
	fixture.MustGit(t, work, "init", "--quiet", "--initial-branch=main")
	for p, text := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(work, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, p), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fixture.MustGit(t, work, "add", "-A")
	fixture.MustGit(t, work, "commit", "--quiet", "-m", "calc")
	commit := strings.TrimSpace(fixture.MustGit(t, work, "rev-parse", "HEAD"))
	forgeDir := filepath.Join(root, "agora+calc", "repo")
	if err := forge.OpenForgeRepo(context.Background(), work, forgeDir, commit); err != nil {
		t.Fatal(err)
	}
	v := mustValidator(t, root)
	v.Runs = 1
	var outcomes []forge.Outcome
	st, err := forge.Synth(context.Background(), forge.SynthOptions{
		Repo: "agora/calc", Commit: commit, ForgeDir: forgeDir, Version: "0.1", Validator: v, MaxMutants: 1,
		Progress: func(o forge.Outcome) { outcomes = append(outcomes, o) },
	}, func(in *swebench.Instance) error { t.Errorf("kept %s", in.InstanceID); return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v outcomes %+v", st, outcomes)
	// flip_comparison goes first: n < 0 becomes n >= 0, and the import
	// raises.
	if len(outcomes) != 1 || outcomes[0].Operator != forge.OpFlipComparison || st.Reasons["the mutant breaks the build or an import"] != 1 {
		t.Fatalf("outcomes %+v reasons %v", outcomes, st.Reasons)
	}
	if refs := fixture.MustGit(t, forgeDir, "for-each-ref", "refs/forge/"); refs != "" {
		t.Errorf("a rejected mutant's ref is left: %s", refs)
	}
}

// TestSynthGo synthesizes from the Go fixture. Its environment compiles
// the standard library in the sandbox (minutes on one CPU), so it runs
// only with AGORA_SLOW_TESTS=1; the Go mutator's unit and fuzz tests
// always run.
func TestSynthGo(t *testing.T) {
	if os.Getenv("AGORA_SLOW_TESTS") != "1" {
		t.Skip("set AGORA_SLOW_TESTS=1: the Go environment takes minutes to build")
	}
	root := t.TempDir()
	r := fixture.GoRepo(t, "")
	forgeDir := fixture.Mirror(t, r, root)
	v := mustValidator(t, root)
	v.Runs = 2
	var got []*swebench.Instance
	st, err := forge.Synth(context.Background(), forge.SynthOptions{
		Repo: r.Owner + "/" + r.Name, Commit: r.Later, ForgeDir: forgeDir, Version: "0.1", Validator: v, Limit: 1, MaxMutants: 6,
		Progress: func(o forge.Outcome) { t.Logf("%s %s: kept %q reason %q", o.Operator, o.Target, o.Kept, o.Reason) },
	}, func(in *swebench.Instance) error { got = append(got, in); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("synthesized %d tasks: %+v", len(got), st)
	}
	in := got[0]
	t.Logf("task %s\n%s\nF2P %q\n%s", in.InstanceID, in.ProblemStatement, in.FailToPass, in.Patch)
	if !strings.HasPrefix(fileList(in.Patch)[0], "mathx.go") || len(in.FailToPass) == 0 {
		t.Fatalf("task %+v", in)
	}
	env, err := v.Envs.Find(in.Repo, in.Version)
	if err != nil {
		t.Fatal(err)
	}
	row := roundTrip(t, in)
	if res := v.Evaluator.EvaluateSWE(context.Background(), row, env, row.Patch, harness.SWEOptions{}); !res.Resolved() {
		t.Fatalf("gold not resolved: %s %v", res.ErrKind, res.Err)
	}
	if res := v.Evaluator.EvaluateSWE(context.Background(), row, env, "", harness.SWEOptions{}); res.Resolved() {
		t.Fatal("empty patch resolved")
	}
}
