package swebench_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/agoranet/agora/swebench"
)

func TestClassifyText(t *testing.T) {
	for _, tt := range []struct {
		name, text, reason, tier string
	}{
		{"none", "collected 3 items\n3 passed", "", ""},
		{"empty", "", "", ""},
		{"oom killed line", "running\nKilled\nmore", "out_of_memory", swebench.TierEnvironment},
		{"killed inside a line is not", "the process was Killed by a test", "", ""},
		{"dns", "pip: Temporary failure in name resolution", "network_unreachable", swebench.TierEnvironment},
		{"module", "E   ModuleNotFoundError: No module named 'x'", "missing_module", swebench.TierAmbiguous},
		{"no tests", "============ no tests ran in 0.01s ============", "no_tests_collected", swebench.TierAmbiguous},
		{"timeout", "output\n\nTimeout error: 1800 seconds exceeded.", "tests_timed_out", swebench.TierAmbiguous},
		{"timeout needs digits", "Timeout error: 1.5 seconds exceeded.", "", ""},
		// Order decides: an environment signature before an ambiguous one.
		{"first wins", "ModuleNotFoundError\nCannot allocate memory", "out_of_memory", swebench.TierEnvironment},
		{"display", "Error: cannot open display :0", "display_unavailable", swebench.TierEnvironment},
		{"docker", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock", "container_unavailable", swebench.TierEnvironment},
		{"browser", "Failed to launch the browser process!", "browser_launch_failed", swebench.TierEnvironment},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reason, tier, ok := swebench.ClassifyText(tt.text)
			if reason != tt.reason || tier != tt.tier || ok != (tt.reason != "") {
				t.Fatalf("ClassifyText = %q %q %v, want %q %q", reason, tier, ok, tt.reason, tt.tier)
			}
		})
	}
}

// TestOutcomeClassify: only unresolved and error outcomes are classified,
// from test_output.txt and run_instance.log together, and the run report
// lists them as infra or ambiguous failures without changing any count.
func TestOutcomeClassify(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(swebench.LogInstance, "2026-01-01 00:00:00,000 - INFO - Test output\n")
	write(swebench.LogTestOutput, "E   ModuleNotFoundError: No module named 'numpy'\n")

	resolved := swebench.Outcome{HasReport: true, Valid: true, Resolved: true}
	if err := resolved.Classify(dir); err != nil || resolved.FailureReason != "" {
		t.Fatalf("resolved outcome classified: %+v %v", resolved, err)
	}
	unresolved := swebench.Outcome{HasReport: true, Valid: true}
	if err := unresolved.Classify(dir); err != nil || unresolved.FailureReason != "missing_module" || unresolved.EnvironmentFault {
		t.Fatalf("unresolved: %+v %v", unresolved, err)
	}
	// An error with no report: the reason may be in run_instance.log only.
	write(swebench.LogInstance, "Killed\n")
	errored := swebench.Outcome{}
	if err := errored.Classify(dir); err != nil || errored.FailureReason != "out_of_memory" || !errored.EnvironmentFault {
		t.Fatalf("error: %+v %v", errored, err)
	}
	missing := swebench.Outcome{}
	if err := missing.Classify(filepath.Join(dir, "nothing-here")); err != nil || missing.FailureReason != "" {
		t.Fatalf("no logs: %+v %v", missing, err)
	}

	patch := "diff"
	insts := []swebench.Instance{{InstanceID: "a"}, {InstanceID: "b"}, {InstanceID: "c"}}
	preds := map[string]swebench.Prediction{"a": {ModelPatch: &patch}, "b": {ModelPatch: &patch}, "c": {ModelPatch: &patch}}
	r := swebench.BuildRunReport(insts, preds, map[string]swebench.Outcome{"a": resolved, "b": unresolved, "c": errored})
	if r.ResolvedInstances != 1 || r.UnresolvedInstances != 1 || r.ErrorInstances != 1 ||
		r.InfraFailureInstances != 1 || r.AmbiguousFailureInstances != 1 ||
		r.FailureReasons["b"] != "missing_module" || r.FailureReasons["c"] != "out_of_memory" || len(r.FailureReasons) != 2 {
		t.Fatalf("run report %+v", r)
	}
}
