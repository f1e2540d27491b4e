package harness_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/internal/fixture"
	"github.com/agoranet/agora/swebench"
)

// MustEvaluator returns an evaluator on a real sandbox over the fixture
// mirrors in root, or skips when the host cannot run sandboxes.
func MustEvaluator(tb testing.TB, root string) *harness.Evaluator {
	return fixture.Evaluator(tb, root)
}

func mustEnv(tb testing.TB, repo string) *harness.Env {
	tb.Helper()
	e, err := fixture.EnvFile(tb).Find(repo, "0.1")
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func instanceOf(tb testing.TB, r *fixture.Repo) *swebench.Instance {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "i.jsonl")
	fixture.WriteInstances(tb, path, r.Instance)
	insts, errs, err := swebench.LoadInstances(path)
	if err != nil || len(errs) > 0 || len(insts) != 1 {
		tb.Fatalf("load fixture instance: %v %v", err, errs)
	}
	return &insts[0]
}

func TestEvaluateSWEPython(t *testing.T) {
	root := t.TempDir()
	repo := fixture.PythonRepo(t, root)
	fixture.Mirror(t, repo, root)
	ev := MustEvaluator(t, root)
	inst := instanceOf(t, repo)
	env := mustEnv(t, "agora/calc")

	// outcome: "resolved", "unresolved", or an error kind; anything but
	// "resolved" is acceptable for the hostile ones, but each must be
	// exactly what we expect so a regression shows.
	cases := []struct {
		patch string
		want  []string // acceptable outcomes
	}{
		{fixture.Gold, []string{"resolved"}},
		{fixture.Wrong, []string{"unresolved"}},
		{fixture.Broken, []string{harness.ErrKindPatchApply}},
		{fixture.Conftest, []string{"unresolved"}},
		{fixture.EditTests, []string{"unresolved"}},
		{fixture.ForgePassed, []string{"unresolved", harness.ErrKindInvalidLog, harness.ErrKindRunnerTampered}},
		{fixture.ForkBomb, []string{"unresolved", harness.ErrKindInvalidLog, harness.ErrKindTimeout, harness.ErrKindRunnerTampered}},
		{fixture.MemoryHog, []string{"unresolved", harness.ErrKindInvalidLog}},
		{fixture.DiskFill, []string{"unresolved", harness.ErrKindInvalidLog}},
		{fixture.Network, []string{"unresolved"}},
		{fixture.DotGit, []string{harness.ErrKindPatchRefused}},
		{fixture.Escape, []string{harness.ErrKindPatchRefused}},
		{fixture.SymlinkOut, []string{harness.ErrKindPatchRefused}},
	}
	// Hostile runs go two at a time beside each other, as in `agora eval
	// --workers 2`: none may disturb another.
	results := make([]*harness.SWEResult, len(cases))
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, tc := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// The static scan only reports here, so the sandbox's and the
			// guard's defences are what is tested (redteam_test.go covers
			// the scan's policy).
			results[i] = ev.EvaluateSWE(context.Background(), inst, env, repo.Patches[tc.patch], harness.SWEOptions{TamperPolicy: harness.TamperPolicyOff})
		}()
	}
	wg.Wait()
	for i, tc := range cases {
		t.Run(tc.patch, func(t *testing.T) {
			res := results[i]
			got := res.ErrKind
			if got == "" {
				got = "unresolved"
				if res.Resolved() {
					got = "resolved"
				}
			}
			for _, w := range tc.want {
				if got == w {
					return
				}
			}
			t.Fatalf("outcome %q (err %v), want one of %v\nlog tail:\n%s", got, res.Err, tc.want, tail(res.Log))
		})
	}
	t.Run("GoldReport", func(t *testing.T) {
		rep := results[0].Report
		if rep == nil || !rep.PatchSuccessfullyApplied || len(rep.TestsStatus.FailToPass.Success) != 2 || len(rep.TestsStatus.PassToPass.Success) != 5 {
			t.Fatalf("report %+v", rep)
		}
		log := string(results[0].Log)
		if !strings.Contains(log, harness.StartMarker) || !strings.Contains(log, harness.ExitCodeMarker+"0") {
			t.Fatalf("log lacks markers:\n%s", log)
		}
	})
	t.Run("ConftestNeutralized", func(t *testing.T) {
		res := results[3]
		if len(res.IgnoredTestEdits) == 0 || !strings.Contains(strings.Join(res.IgnoredTestEdits, ","), "conftest.py") {
			t.Fatalf("IgnoredTestEdits=%v", res.IgnoredTestEdits)
		}
	})
	t.Run("RefusalNamesPath", func(t *testing.T) {
		if msg := results[10].Err.Error(); !strings.Contains(msg, ".git") {
			t.Fatalf("refusal does not name .git: %s", msg)
		}
	})
}

func TestEvaluateSWEGo(t *testing.T) {
	if _, err := os.Stat("/usr/local/go/bin/go"); err != nil {
		t.Skip("needs Go at /usr/local/go")
	}
	root := t.TempDir()
	repo := fixture.GoRepo(t, root)
	fixture.Mirror(t, repo, root)
	ev := MustEvaluator(t, root)
	inst := instanceOf(t, repo)
	env := mustEnv(t, "agora/mathx")
	gold := ev.EvaluateSWE(context.Background(), inst, env, repo.Patches[fixture.Gold], harness.SWEOptions{})
	if !gold.Resolved() {
		t.Fatalf("gold not resolved: %v\n%s", gold.Err, tail(gold.Log))
	}
	wrong := ev.EvaluateSWE(context.Background(), inst, env, repo.Patches[fixture.Wrong], harness.SWEOptions{})
	if wrong.Err != nil || wrong.Resolved() {
		t.Fatalf("wrong: resolved=%v err=%v", wrong.Resolved(), wrong.Err)
	}
}

func TestEvaluateSWEErrors(t *testing.T) {
	root := t.TempDir()
	repo := fixture.PythonRepo(t, root)
	fixture.Mirror(t, repo, root)
	ev := MustEvaluator(t, root)
	env := mustEnv(t, "agora/calc")
	t.Run("ErrUnreachableRepository", func(t *testing.T) {
		inst := *instanceOf(t, repo)
		inst.Repo = "agora/missing"
		res := ev.EvaluateSWE(context.Background(), &inst, env, repo.Patches[fixture.Gold], harness.SWEOptions{})
		if res.ErrKind != harness.ErrKindRepository || !strings.Contains(res.Err.Error(), inst.InstanceID) {
			t.Fatalf("ErrKind=%q err=%v", res.ErrKind, res.Err)
		}
	})
	t.Run("ErrPatchTooLarge", func(t *testing.T) {
		inst := instanceOf(t, repo)
		res := ev.EvaluateSWE(context.Background(), inst, env, repo.Patches[fixture.Gold], harness.SWEOptions{MaxPatchBytes: 16})
		if res.ErrKind != harness.ErrKindPatchRefused {
			t.Fatalf("ErrKind=%q err=%v", res.ErrKind, res.Err)
		}
	})
	t.Run("ErrOutsideAllowedPaths", func(t *testing.T) {
		inst := instanceOf(t, repo)
		res := ev.EvaluateSWE(context.Background(), inst, env, repo.Patches[fixture.Gold], harness.SWEOptions{Allowed: []string{"docs/**"}})
		if res.ErrKind != harness.ErrKindPatchRefused {
			t.Fatalf("ErrKind=%q err=%v", res.ErrKind, res.Err)
		}
	})
	t.Run("ErrTimeout", func(t *testing.T) {
		inst := instanceOf(t, repo)
		slow := *env
		slow.TestCmd = "sleep 30; true"
		res := ev.EvaluateSWE(context.Background(), inst, &slow, repo.Patches[fixture.Gold], harness.SWEOptions{Timeout: time.Second})
		if res.ErrKind != harness.ErrKindTimeout {
			t.Fatalf("ErrKind=%q err=%v", res.ErrKind, res.Err)
		}
		// SWE-bench's last line of a timed-out test_output.txt, which
		// its infrastructure classifier reads.
		if !strings.HasSuffix(string(res.Log), "\n\nTimeout error: 1 seconds exceeded.") || strings.Contains(string(res.Log), harness.EndMarker) {
			t.Fatalf("log tail %q", tail(res.Log))
		}
		if reason, _, _ := swebench.ClassifyText(string(res.Log)); reason != "tests_timed_out" {
			t.Fatalf("classified %q", reason)
		}
	})
	_ = agora.EINVALID
}

func tail(b []byte) string {
	s := string(b)
	if len(s) > 3000 {
		s = s[len(s)-3000:]
	}
	return s
}

// TestEnvRunnerFields checks the runner fields of an environment spec are
// validated with the field named.
func TestEnvRunnerFields(t *testing.T) {
	const head = "version: 1\nenvironments:\n  - repo: a/b\n    versions: [\"1\"]\n    test_cmd: python -m pytest\n"
	for _, tc := range []struct {
		name, extra, mention string
	}{
		{"OK", "    plugins: [pytest_httpbin.plugin, xdist]\n    runner: pytest\n    plugin_autoload: true\n", ""},
		{"ErrPlugin", "    plugins: [\"-p evil\"]\n", "plugins"},
		{"ErrPluginPath", "    plugins: [\"../x\"]\n", "plugins"},
		{"ErrRunner", "    runner: nose\n", "runner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := harness.ParseEnvFile("envs.yaml", []byte(head+tc.extra))
			switch {
			case tc.mention == "" && err != nil:
				t.Fatalf("err=%v", err)
			case tc.mention != "" && (err == nil || !strings.Contains(err.Error(), tc.mention) || !strings.Contains(err.Error(), "envs.yaml")):
				t.Fatalf("err=%v, want one naming envs.yaml and %q", err, tc.mention)
			}
		})
	}
}
