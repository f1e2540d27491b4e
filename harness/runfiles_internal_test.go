package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora/grading"
	"github.com/agoranet/agora/swebench"
)

var update = flag.Bool("update", false, "rewrite testdata/runfiles/golden from the batch's output")

// runFixture runs the batch of testdata/runfiles on gold predictions in a
// fresh report directory, with a made-up result for each instance in place
// of a sandbox (agora__calc-1 resolved, -2 not resolved after one failed
// apply command, -3 a patch that does not apply, agora__other-1 no
// environment), and writes the run report. It returns the directory.
func runFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	clock := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	b := &Batch{
		Instances: "testdata/runfiles/instances.jsonl", Predictions: "gold", EnvSpecs: "testdata/runfiles/envs.yaml",
		ReportDir: dir, RunID: "fixture", Workers: 1,
		Warn: func(msg string) { t.Logf("warn: %s", msg) },
		Now:  func() time.Time { return clock },
	}
	p, err := b.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Pending(), 3; got != want {
		t.Fatalf("Pending()=%d, want %d", got, want)
	}
	for i, it := range p.items {
		b.record(it, fixtureResult(it.inst.InstanceID, clock.Add(time.Duration(i+1)*time.Second)))
	}
	if _, _, err := b.Report(p); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fixtureResult is what EvaluateSWE could have returned for id.
func fixtureResult(id string, start time.Time) *SWEResult {
	ms := time.Millisecond
	res := &SWEResult{
		InstanceID: id, Started: start, Guarded: true, IgnoredTestEdits: []string{},
		Timings: Timings{Checkout: 120 * ms, Environment: 1500 * ms, Prepare: 830 * ms, Test: 2345 * ms},
	}
	res.Timings.Total = res.Timings.Checkout + res.Timings.Environment + res.Timings.Prepare + res.Timings.Test
	applied := "Checking patch calc/ops.py...\nApplied patch calc/ops.py cleanly.\n" +
		">>>>> Applied Patch (git apply --verbose)\n" +
		"Checking patch tests/test_ops.py...\nChecking patch tests/test_new.py...\n" +
		"Applied patch tests/test_ops.py cleanly.\nApplied patch tests/test_new.py cleanly.\n"
	failed := "Checking patch calc/ops.py...\nerror: patch failed: calc/ops.py:1\nerror: calc/ops.py: patch does not apply\n"
	tests := func(out string, exit string) []byte {
		return []byte(StartMarker + "\n" + out + EndMarker + "\n" + ExitCodeMarker + exit + "\n")
	}
	switch id {
	case "agora__calc-1":
		res.Log = append([]byte(applied), tests("PASSED tests/test_ops.py::test_add\nPASSED tests/test_new.py::test_new\n", "0")...)
		res.Resolution = grading.ResolvedFull
		res.Report = &swebench.InstanceReport{PatchExists: true, PatchSuccessfullyApplied: true, Resolved: true,
			TestsStatus: &grading.TestsStatus{
				FailToPass: grading.Tests{Success: []string{"tests/test_ops.py::test_add"}},
				PassToPass: grading.Tests{Success: []string{"tests/test_new.py::test_new"}},
			}}
	case "agora__calc-2":
		prep := failed + ">>>>> Patch attempt failed: git apply --verbose\n" +
			strings.Replace(applied, "(git apply --verbose)", "(git apply --verbose --3way)", 1)
		res.Log = append([]byte(prep), tests("FAILED tests/test_ops.py::test_add - assert -1 == 3\nPASSED tests/test_new.py::test_new\n", "1")...)
		res.TestExitCode = 1
		res.IgnoredTestEdits = []string{"tests/conftest.py"}
		res.Resolution = grading.ResolvedNo
		res.Report = &swebench.InstanceReport{PatchExists: true, PatchSuccessfullyApplied: true,
			TestsStatus: &grading.TestsStatus{
				FailToPass: grading.Tests{Failure: []string{"tests/test_ops.py::test_add"}},
				PassToPass: grading.Tests{Success: []string{"tests/test_new.py::test_new"}},
			}}
	default:
		var prep string
		for _, c := range applyChain {
			prep += failed + ">>>>> Patch attempt failed: " + c + "\n"
		}
		res.Log = []byte(prep + ">>>>> Patch Apply Failed\n")
		res.Timings.Test, res.Timings.Total = 0, res.Timings.Total-res.Timings.Test
		res.ErrKind, res.Err = ErrKindPatchApply, errors.New(id+": model patch does not apply: error: patch failed: calc/ops.py:1")
	}
	return res
}

// readTree returns every file under root by slash-separated relative path.
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		rel, _ := filepath.Rel(root, path)
		files[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestRunFilesGolden keeps the bytes of every file a run writes: the run
// report, run.json and each instance's directory. go test -run
// TestRunFilesGolden -update rewrites testdata/runfiles/golden.
func TestRunFilesGolden(t *testing.T) {
	got := readTree(t, runFixture(t))
	golden := filepath.Join("testdata", "runfiles", "golden")
	if *update {
		os.RemoveAll(golden)
		for rel, data := range got {
			p := filepath.Join(golden, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	want := readTree(t, golden)
	for rel, w := range want {
		g, ok := got[rel]
		switch {
		case !ok:
			t.Errorf("%s: not written", rel)
		case !bytes.Equal(g, w):
			t.Errorf("%s differs from the golden file:\n%s\nwant\n%s", rel, g, w)
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			t.Errorf("%s: written, not in the golden tree", rel)
		}
	}
}

// TestRunFilesLayout checks the paths of a run's files against SWE-bench's
// layout, spelled out from its harness (constants RUN_EVALUATION_LOG_DIR,
// LOG_RUN_METADATA, LOG_INSTANCE, LOG_TEST_OUTPUT, LOG_REPORT; run_instance's
// patch.diff and eval.sh; make_run_report's MODEL.RUN_ID.json) rather than
// from package swebench, so a renamed constant shows. SWE-bench writes
// patch.diff once the container started, eval.sh and test_output.txt once
// the patch applied, report.json once graded; agora.json is Agora's own.
func TestRunFilesLayout(t *testing.T) {
	const inst = "logs/run_evaluation/fixture/gold/"
	evaluated := []string{"eval.sh", "patch.diff", "report.json", "run_instance.log", "test_output.txt"}
	want := []string{"gold.fixture.json", "logs/run_evaluation/fixture/run.json"}
	for _, id := range []string{"agora__calc-1", "agora__calc-2"} {
		for _, f := range evaluated {
			want = append(want, inst+id+"/"+f)
		}
	}
	want = append(want, inst+"agora__calc-3/patch.diff", inst+"agora__calc-3/run_instance.log")
	want = append(want, inst+"agora__other-1/run_instance.log")

	var got []string
	for rel := range readTree(t, runFixture(t)) {
		if filepath.Base(rel) != "agora.json" {
			got = append(got, rel)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("files =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestEvalScriptOfRow checks that a row's own eval_script is the one
// written, with v5's exit-code lines.
func TestEvalScriptOfRow(t *testing.T) {
	insts, _, err := swebench.LoadInstances("testdata/runfiles/instances.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	got, err := EvalScript(&insts[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := swebench.EvalScript(insts[1].EvalScript); got != want {
		t.Errorf("EvalScript=\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(got, "SWEBENCH_TEST_EXIT_CODE=$?\n: '>>>>> End Test Output'\n") {
		t.Errorf("EvalScript does not keep the exit code:\n%s", got)
	}
}

// TestRunFilesWithSWEbench reads a fixture run with SWE-bench's own
// make_run_report and eval-script code, taken from a local git copy of
// SWE-bench (AGORA_SWEBENCH_GIT, default /work/.mirror/SWE-bench+SWE-bench/repo)
// at test time and run by /usr/bin/python3: its run report must be ours byte
// for byte, and so must the eval.sh of a row with an eval_script. Skipped
// where either is missing (CI).
func TestRunFilesWithSWEbench(t *testing.T) {
	mirror := os.Getenv("AGORA_SWEBENCH_GIT")
	if mirror == "" {
		mirror = "/work/.mirror/SWE-bench+SWE-bench/repo"
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if _, err := os.Stat(mirror); err != nil {
		t.Skipf("no SWE-bench git copy at %s", mirror)
	}
	dir := runFixture(t)
	instances, _ := filepath.Abs("testdata/runfiles/instances.jsonl")
	cmd := exec.Command("/usr/bin/python3", "testdata/runfiles/swebench_check.py", mirror, dir, "fixture", instances)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("swebench_check.py: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	ours, _ := os.ReadFile(filepath.Join(dir, "gold.fixture.json"))
	theirs, err := os.ReadFile(filepath.Join(dir, "swebench", "gold.fixture.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours, theirs) {
		t.Errorf("run report=\n%s\nSWE-bench's\n%s", ours, theirs)
	}
	var scripts map[string]string
	if err := json.Unmarshal(out, &scripts); err != nil {
		t.Fatalf("swebench_check.py output: %v", err)
	}
	if len(scripts) == 0 {
		t.Fatal("no eval script to compare")
	}
	for id, want := range scripts {
		got, _ := os.ReadFile(filepath.Join(dir, "logs", "run_evaluation", "fixture", "gold", id, "eval.sh"))
		if string(got) != want {
			t.Errorf("%s: eval.sh=\n%s\nSWE-bench's\n%s", id, got, want)
		}
	}
}
