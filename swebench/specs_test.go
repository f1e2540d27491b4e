package swebench_test

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/logparse"
	"github.com/agoranet/agora/swebench"
)

func TestLookupSpec(t *testing.T) {
	const django = "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1"
	for _, tt := range []struct {
		repo, version string
		testCmd       string
		install       string
		evalCommands  int
		parser        string
	}{
		{"django/django", "1.9", "./tests/runtests.py --verbosity 2", "python setup.py install", 4, "parse_log_django"},
		{"django/django", "1.5", django, "python setup.py install", 0, "parse_log_django"},
		{"django/django", "3.0", django, "python -m pip install -e .", 4, "parse_log_django"},
		{"django/django", "4.0", django, "python -m pip install -e .", 0, "parse_log_django"},
		{"sympy/sympy", "1.1", "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose", "python -m pip install -e .", 0, "parse_log_sympy"},
		{"sphinx-doc/sphinx", "3.5", "tox --current-env -epy39 -v --", "python -m pip install -e .[test]", 0, "parse_log_sphinx"},
		{"astropy/astropy", "1.3", "pytest -rA -vv -o console_output_style=classic --tb=no", "python -m pip install -e .[test] --verbose", 0, "parse_log_astropy"},
		{"astropy/astropy", "v5.3", "pytest -rA", "python -m pip install -e .[test] --verbose", 0, "parse_log_astropy"},
		{"mwaskom/seaborn", "0.11", "pytest --no-header -rA", "python -m pip install -e .", 0, "parse_log_seaborn"},
		{"psf/requests", "2.0", "pytest -rA", "python -m pip install .", 0, "parse_log_requests"},
		{"scikit-learn/scikit-learn", "1.3", "pytest -rA", "python -m pip install -v --no-use-pep517 --no-build-isolation -e .", 0, "parse_log_scikit"},
		{"matplotlib/matplotlib", "3.9", "pytest -rA", `python -m pip install --no-build-isolation -e ".[dev]"`, 0, "parse_log_matplotlib"},
		{"pydata/xarray", "2022.06", "pytest -rA", "python -m pip install -e .", 0, "parse_log_xarray"},
	} {
		t.Run(tt.repo+"@"+tt.version, func(t *testing.T) {
			s, err := swebench.LookupSpec(tt.repo, tt.version)
			if err != nil {
				t.Fatal(err)
			}
			if s.Repo != tt.repo || s.Version != tt.version {
				t.Errorf("Repo, Version=%q, %q", s.Repo, s.Version)
			}
			if s.TestCmd != tt.testCmd {
				t.Errorf("TestCmd=%q, want %q", s.TestCmd, tt.testCmd)
			}
			if s.Install != tt.install {
				t.Errorf("Install=%q, want %q", s.Install, tt.install)
			}
			if len(s.EvalCommands) != tt.evalCommands {
				t.Errorf("EvalCommands=%q, want %d lines", s.EvalCommands, tt.evalCommands)
			}
			if s.LogParser != tt.parser {
				t.Errorf("LogParser=%q, want %q", s.LogParser, tt.parser)
			}
		})
	}
	t.Run("ErrUnknownRepo", func(t *testing.T) {
		_, err := swebench.LookupSpec("golang/go", "1.0")
		if agora.ErrorCode(err) != agora.ENOTFOUND || !strings.Contains(err.Error(), `"golang/go"`) || !strings.Contains(err.Error(), "sympy/sympy") {
			t.Errorf("err=%v, want ENOTFOUND naming the repository and the known ones", err)
		}
	})
	t.Run("ErrUnknownVersion", func(t *testing.T) {
		_, err := swebench.LookupSpec("django/django", "9.9")
		if agora.ErrorCode(err) != agora.ENOTFOUND || !strings.Contains(err.Error(), `"9.9"`) || !strings.Contains(err.Error(), "1.9 1.10") {
			t.Errorf("err=%v, want ENOTFOUND naming the version and the known ones in order", err)
		}
	})
	t.Run("CopyIsTheCallers", func(t *testing.T) {
		s, _ := swebench.LookupSpec("django/django", "3.0")
		s.EvalCommands[0], s.TestCmd = "changed", "changed"
		again, _ := swebench.LookupSpec("django/django", "3.0")
		if again.EvalCommands[0] == "changed" || again.TestCmd == "changed" {
			t.Error("changing a looked-up spec changed the table")
		}
	})
}

func TestSpecRepos(t *testing.T) {
	twelve := []string{"astropy/astropy", "django/django", "matplotlib/matplotlib", "mwaskom/seaborn", "pallets/flask", "psf/requests",
		"pydata/xarray", "pylint-dev/pylint", "pytest-dev/pytest", "scikit-learn/scikit-learn", "sphinx-doc/sphinx", "sympy/sympy"}
	repos := swebench.SpecRepos()
	for _, r := range twelve {
		if len(swebench.SpecVersions(r)) == 0 {
			t.Errorf("%s has no versions", r)
		}
	}
	for _, r := range repos {
		if _, ok := logparse.ForRepo(r); !ok {
			t.Errorf("%s has a spec but no log parser", r)
		}
	}
	if len(repos) != 18 {
		t.Errorf("%d repositories, want the 12 test ones and the 6 of the dev split", len(repos))
	}
	if got, want := swebench.SpecVersions("astropy/astropy"), []string{"0.1", "0.2", "0.3", "0.4", "1.1", "1.2", "1.3",
		"3.0", "3.1", "3.2", "4.1", "4.2", "4.3", "5.0", "5.1", "5.2", "v5.3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SpecVersions(astropy)=%q, want %q", got, want)
	}
	if got := swebench.SpecVersions("golang/go"); len(got) != 0 {
		t.Errorf("SpecVersions(golang/go)=%q, want none", got)
	}
}

func TestRepoSpecTestCommand(t *testing.T) {
	// Directives come from the headers alone.
	diff := func(paths ...string) (s string) {
		for _, p := range paths {
			s += "diff --git a/" + p + " b/" + p + "\n"
		}
		return s
	}
	for _, tt := range []struct {
		name, repo, version, patch, want string
	}{
		{"DjangoModuleLabels", "django/django", "3.0", diff("tests/admin_views/tests.py", "tests/templates/x.json"),
			"./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 admin_views.tests"},
		{"SympyPathsAsIs", "sympy/sympy", "1.12", diff("sympy/core/tests/test_basic.py"),
			"PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose sympy/core/tests/test_basic.py"},
		{"SphinxAfterDoubleDash", "sphinx-doc/sphinx", "4.1", diff("tests/roots/test-x/conf.py", "tests/test_x.py"),
			"tox --current-env -epy39 -v -- tests/roots/test-x/conf.py tests/test_x.py"},
		{"NonTestFilesDropped", "pytest-dev/pytest", "5.4", diff("testing/test_a.py", "doc/en/a.md", "x.toml"), "pytest -rA testing/test_a.py"},
		{"NoDirectives", "psf/requests", "2.0", diff("tests/data.json"), "pytest -rA"},
		{"NotQuoted", "psf/requests", "2.0", diff("tests/it's.py"), "pytest -rA tests/it's.py"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := swebench.LookupSpec(tt.repo, tt.version)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.TestCommand(tt.patch); got != tt.want {
				t.Errorf("TestCommand=%q, want %q", got, tt.want)
			}
		})
	}
}

// goldenInstances are one instance per (repository, version) of the v5
// parquets (Verified, Lite, Lite dev, dev), the one with the smallest test
// patch, plus instances that show a quirk: created, renamed and non-test
// files in the reset, per-instance fixes. Each keeps its eval_script, the
// expected output; the fields evaluation does not read are emptied.
func goldenInstances(t testing.TB) []swebench.Instance {
	t.Helper()
	f, err := os.Open("testdata/specs/golden.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	insts, bad, err := swebench.ParseInstances("golden.jsonl", data)
	if err != nil || len(bad) > 0 {
		t.Fatalf("golden instances: %v %v", err, bad)
	}
	return insts
}

func TestImageEvalScriptGolden(t *testing.T) {
	insts := goldenInstances(t)
	if len(insts) < 140 {
		t.Fatalf("%d golden instances, want one per (repository, version) at least", len(insts))
	}
	for _, in := range insts {
		t.Run(in.InstanceID, func(t *testing.T) {
			want := in.EvalScript
			in.EvalScript = ""
			got, err := swebench.ImageEvalScript(&in)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("ImageEvalScript differs from the dataset's eval_script:\n%s", firstDiff(got, want))
			}
			parser, err := swebench.LogParser(&swebench.Instance{InstanceID: in.InstanceID, Repo: in.Repo})
			if err != nil || parser != in.LogParser {
				t.Errorf("LogParser by repository=%q, %v; the dataset says %q", parser, err, in.LogParser)
			}
		})
	}
}

// firstDiff shows the first line where got and want part.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl || i >= len(g) || i >= len(w) {
			return "line " + strconv.Itoa(i+1) + ":\n got  " + gl + "\n want " + wl
		}
	}
	return "(same lines)"
}

// TestImageEvalScriptDatasets compares ImageEvalScript with eval_script
// for every instance of the dataset files named in AGORA_SWEBENCH_DATASETS
// (comma-separated JSON or JSONL files, such as the SWE-bench mirror's
// parquets converted to JSONL). Without it the test is skipped.
func TestImageEvalScriptDatasets(t *testing.T) {
	env := os.Getenv("AGORA_SWEBENCH_DATASETS")
	if env == "" {
		t.Skip("AGORA_SWEBENCH_DATASETS is not set: no dataset files to compare with")
	}
	for _, path := range strings.Split(env, ",") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			insts, bad, err := swebench.LoadInstances(path)
			if err != nil {
				t.Skipf("%s: %v", path, err)
			}
			for _, b := range bad {
				t.Errorf("%s", b.Error())
			}
			match, byRepo := 0, map[string][2]int{}
			for _, in := range insts {
				if in.EvalScript == "" {
					continue
				}
				want := in.EvalScript
				in.EvalScript = ""
				got, err := swebench.ImageEvalScript(&in)
				c := byRepo[in.Repo]
				c[1]++
				switch {
				case err != nil:
					t.Errorf("%s: %v", in.InstanceID, err)
				case got != want:
					t.Errorf("%s: ImageEvalScript differs from eval_script:\n%s", in.InstanceID, firstDiff(got, want))
				default:
					match++
					c[0]++
				}
				byRepo[in.Repo] = c
			}
			for _, r := range swebench.SpecRepos() {
				if c, ok := byRepo[r]; ok {
					t.Logf("%s: %d/%d", r, c[0], c[1])
				}
			}
			t.Logf("%s: %d of %d instances match byte for byte", path, match, len(insts))
		})
	}
}

func TestImageEvalScript(t *testing.T) {
	base := strings.Repeat("a", 40)
	t.Run("DatasetScriptWins", func(t *testing.T) {
		in := &swebench.Instance{InstanceID: "x__y-1", Repo: "golang/go", Version: "1", BaseCommit: base, EvalScript: "#!/bin/bash\necho hi\n"}
		got, err := swebench.ImageEvalScript(in)
		if err != nil || got != in.EvalScript {
			t.Errorf("ImageEvalScript=%q, %v, want the row's eval_script", got, err)
		}
	})
	t.Run("ErrUnknownVersion", func(t *testing.T) {
		in := &swebench.Instance{InstanceID: "django__django-1", Repo: "django/django", Version: "0.1", BaseCommit: base}
		_, err := swebench.ImageEvalScript(in)
		if agora.ErrorCode(err) != agora.ENOTFOUND || !strings.HasPrefix(agora.ErrorMessage(err), "django__django-1: ") {
			t.Errorf("err=%v, want ENOTFOUND naming the instance", err)
		}
	})
	t.Run("ErrBaseCommit", func(t *testing.T) {
		in := &swebench.Instance{InstanceID: "django__django-1", Repo: "django/django", Version: "3.0", BaseCommit: "HEAD; rm -rf /"}
		_, err := swebench.ImageEvalScript(in)
		if agora.ErrorCode(err) != agora.EINVALID || !strings.Contains(err.Error(), "base_commit") {
			t.Errorf("err=%v, want EINVALID naming base_commit", err)
		}
	})
	t.Run("ErrHeredocDelimiterInTestPatch", func(t *testing.T) {
		in := &swebench.Instance{InstanceID: "psf__requests-1", Repo: "psf/requests", Version: "2.0", BaseCommit: base,
			TestPatch: "diff --git a/t.py b/t.py\n+x\nEOF_114329324912\nrm -rf /\n"}
		_, err := swebench.ImageEvalScript(in)
		if agora.ErrorCode(err) != agora.EINVALID || !strings.Contains(err.Error(), "heredoc") {
			t.Errorf("err=%v, want EINVALID naming the heredoc", err)
		}
	})
	t.Run("NoFilesNoReset", func(t *testing.T) {
		in := &swebench.Instance{InstanceID: "psf__requests-1", Repo: "psf/requests", Version: "2.0", BaseCommit: base}
		got, err := swebench.ImageEvalScript(in)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(got, "git checkout") {
			t.Errorf("a test patch naming no file gave a checkout:\n%s", got)
		}
	})
}

func TestLogParser(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   swebench.Instance
		want string
		code string
	}{
		{"FieldWins", swebench.Instance{Repo: "psf/requests", LogParser: "parse_log_pytest"}, "parse_log_pytest", ""},
		{"ByRepository", swebench.Instance{Repo: "psf/requests"}, "parse_log_requests", ""},
		{"ErrNotFound", swebench.Instance{InstanceID: "a__b-1", Repo: "golang/go"}, "", agora.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := swebench.LogParser(&tt.in)
			if got != tt.want || agora.ErrorCode(err) != tt.code && !(err == nil && tt.code == "") {
				t.Errorf("LogParser=%q, %v, want %q (code %q)", got, err, tt.want, tt.code)
			}
		})
	}
}

// TestEvalScriptSpecRuns runs a script of the image shape for real: bash,
// a git repository, a test patch that modifies one file and creates
// another. Only the paths differ from an image's (no conda: Activate is
// empty; RepoDir is a temporary directory).
func TestEvalScriptSpecRuns(t *testing.T) {
	for _, bin := range []string{"bash", "git"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("no %s", bin)
		}
	}
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	home := filepath.Join(dir, "home")
	for _, d := range []string{filepath.Join(repo, "tests"), home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = repo, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %q: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	if err := os.WriteFile(filepath.Join(repo, "tests", "test_a.py"), []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("git", "init", "-q")
	run("git", "add", ".")
	run("git", "commit", "-q", "-m", "base")
	base := strings.TrimSpace(run("git", "rev-parse", "HEAD"))

	modify := "diff --git a/tests/test_a.py b/tests/test_a.py\n--- a/tests/test_a.py\n+++ b/tests/test_a.py\n@@ -1 +1 @@\n-one\n+two\n"
	create := "diff --git a/tests/test_new.py b/tests/test_new.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/test_new.py\n@@ -0,0 +1 @@\n+new\n"
	script := func(testPatch string) string {
		s, err := swebench.LookupSpec("psf/requests", "2.0")
		if err != nil {
			t.Fatal(err)
		}
		in := &swebench.Instance{InstanceID: "psf__requests-1", Repo: "psf/requests", Version: "2.0", BaseCommit: base, TestPatch: testPatch}
		spec := s.ImageEvalScriptSpec(in)
		spec.Activate, spec.RepoDir, spec.Install = nil, repo, "echo installed"
		spec.TestCommand = "cat " + strings.Join(s.ImageEvalScriptSpec(in).ResetFiles, " ")
		return spec.Script()
	}
	runScript := func(s string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", s)
		cmd.Dir, cmd.Env = repo, env
		out, _ := cmd.CombinedOutput() // set -uxo pipefail without -e: the exit status is the last reset's
		return string(out)
	}
	between := func(out string) string {
		_, rest, ok1 := strings.Cut(out, "+ : '>>>>> Start Test Output'\n")
		mid, _, ok2 := strings.Cut(rest, "+ : '>>>>> End Test Output'\n")
		if !ok1 || !ok2 {
			t.Fatalf("no markers in the trace:\n%s", out)
		}
		return mid
	}

	for _, tt := range []struct {
		name, testPatch string
		// sees is what the test command printed; trace a line the trace
		// must hold; after is tests/test_a.py once the script is done.
		sees, trace, after string
	}{
		{"ModifiedFileResetAfter", modify, "\ntwo\n", "installed", "one\n"},
		// SWE-bench resets the created file too; git cannot find it at
		// the base, so that checkout fails whole and leaves the test
		// patch in.
		{"CreatedFileBlocksTheReset", modify + create, "two\nnew\n", "pathspec 'tests/test_new.py' did not match", "two\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := runScript(script(tt.testPatch))
			if mid := between(out); !strings.Contains(mid, tt.sees) {
				t.Errorf("the tests saw %q, want %q", mid, tt.sees)
			}
			if !strings.Contains(out, tt.trace) {
				t.Errorf("the trace lacks %q:\n%s", tt.trace, out)
			}
			if got, _ := os.ReadFile(filepath.Join(repo, "tests", "test_a.py")); string(got) != tt.after {
				t.Errorf("after the script tests/test_a.py=%q, want %q", got, tt.after)
			}
			if cfg, _ := os.ReadFile(filepath.Join(home, ".gitconfig")); !strings.Contains(string(cfg), "directory = "+repo) {
				t.Errorf("safe.directory not recorded in $HOME/.gitconfig:\n%s", cfg)
			}
			run("git", "checkout", "-q", base, "--", ".")
			run("git", "clean", "-qfd")
		})
	}
}

// TestImageEvalScriptEverySpec writes a script for every (repository,
// version) of the table and checks that bash parses it (the heredoc
// closes, quotes balance) and that it runs the spec's commands.
func TestImageEvalScriptEverySpec(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	testPatch := "diff --git a/tests/test_x.py b/tests/test_x.py\n--- a/tests/test_x.py\n+++ b/tests/test_x.py\n@@ -1 +1 @@\n-a = 'it''s'\n+b = \"$(x)\"\n"
	// One bash for all scripts: each alone only when the whole fails.
	bashN := func(script string) error {
		cmd := exec.Command(bash, "-n")
		cmd.Stdin = strings.NewReader(script)
		// An unclosed heredoc is only a warning: any output fails.
		out, err := cmd.CombinedOutput()
		if err != nil || len(out) > 0 {
			return fmt.Errorf("bash -n: %v\n%s", err, out)
		}
		return nil
	}
	var all strings.Builder
	scripts := map[string]string{}
	for _, repo := range swebench.SpecRepos() {
		for _, v := range swebench.SpecVersions(repo) {
			in := &swebench.Instance{InstanceID: "a__b-1", Repo: repo, Version: v, BaseCommit: strings.Repeat("0", 40), TestPatch: testPatch}
			got, err := swebench.ImageEvalScript(in)
			if err != nil {
				t.Fatalf("%s@%s: %v", repo, v, err)
			}
			s, _ := swebench.LookupSpec(repo, v)
			for _, want := range append([]string{s.Install, s.TestCommand(testPatch)}, s.EvalCommands...) {
				if !strings.Contains(got, "\n"+want+"\n") {
					t.Errorf("%s@%s: no line %q", repo, v, want)
				}
			}
			scripts[repo+"@"+v] = got
			all.WriteString(got)
		}
	}
	if len(scripts) < 280 {
		t.Errorf("%d specs, want the whole table", len(scripts))
	}
	if bashN(all.String()) == nil {
		return
	}
	for name, script := range scripts {
		if err := bashN(script); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzImageEvalScript(f *testing.F) {
	for _, in := range goldenInstances(f)[:10] {
		f.Add(in.Repo, in.Version, in.TestPatch)
	}
	f.Add("django/django", "3.0", "diff --git a/tests/x.py b/tests/x.py\n+S = 'diff --git a/q b/r b/s'\n")
	f.Fuzz(func(t *testing.T, repo, version, testPatch string) {
		if testing.Short() && len(testPatch) > 1<<16 {
			t.Skip()
		}
		in := &swebench.Instance{InstanceID: "a__b-1", Repo: repo, Version: version, BaseCommit: strings.Repeat("0", 40), TestPatch: testPatch}
		got, err := swebench.ImageEvalScript(in)
		if err != nil {
			if c := agora.ErrorCode(err); c != agora.ENOTFOUND && !(c == agora.EINVALID && strings.Contains(err.Error(), "heredoc")) {
				t.Fatalf("err=%v, want only ENOTFOUND for an unknown spec or EINVALID for a heredoc delimiter", err)
			}
			return
		}
		s, _ := swebench.LookupSpec(repo, version)
		if !strings.HasPrefix(got, "#!/bin/bash\nset -uxo pipefail\n") || !strings.HasSuffix(got, "\n") {
			t.Fatalf("script lacks its header or final newline:\n%s", got)
		}
		if strings.Count(got, "\nEOF_114329324912\n") != 1 {
			t.Fatalf("the heredoc delimiter is not on exactly one line after the opening:\n%s", got)
		}
		if want := "\n" + swebench.StartTestOutput + "\n" + s.TestCommand(testPatch) + "\n" + swebench.EndTestOutput + "\n"; !strings.Contains(got, want) {
			t.Fatalf("script lacks the test command between the markers:\n%s", got)
		}
	})
}

func BenchmarkImageEvalScript(b *testing.B) {
	insts := goldenInstances(b)
	var in swebench.Instance
	for _, x := range insts {
		if len(x.TestPatch) > len(in.TestPatch) {
			in = x
		}
	}
	in.EvalScript = ""
	b.SetBytes(int64(len(in.TestPatch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := swebench.ImageEvalScript(&in); err != nil {
			b.Fatal(err)
		}
	}
}
