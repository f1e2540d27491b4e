package swebench_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/grading"
	"github.com/agoranet/agora/swebench"
)

// The golden files in testdata/golden were written by CPython's
// json.dumps(…, indent=4) from the same data, the way SWE-bench writes
// report.json (no final newline) and the run report (print: a final
// newline), so they pin down Python's formatting and escaping.

func golden(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestRunReportGolden(t *testing.T) {
	var instances []swebench.Instance
	for i := 1; i <= 9; i++ {
		instances = append(instances, swebench.Instance{InstanceID: "a__a-" + string(rune('0'+i))})
	}
	pred := func(id string, patch *string) swebench.Prediction {
		return swebench.Prediction{InstanceID: id, ModelNameOrPath: "org/m", ModelPatch: patch}
	}
	preds := map[string]swebench.Prediction{
		"a__a-2":   pred("a__a-2", strp("")), // empty patch
		"a__a-3":   pred("a__a-3", nil),      // null patch
		"a__a-4":   pred("a__a-4", strp("x")),
		"a__a-5":   pred("a__a-5", strp("x")),
		"a__a-6":   pred("a__a-6", strp("x")),
		"a__a-7":   pred("a__a-7", strp("x")),
		"a__a-8":   pred("a__a-8", strp("x")),
		"a__a-9":   pred("a__a-9", strp("x")),
		"zz__zz-1": pred("zz__zz-1", strp("x")), // not in the dataset: still submitted
	}
	outcomes := map[string]swebench.Outcome{
		"a__a-4": swebench.OutcomeFromReport("a__a-4", []byte(`{"a__a-4": {"resolved": true}}`)),
		"a__a-5": swebench.OutcomeFromReport("a__a-5", []byte(`{"a__a-5": {"resolved": false}}`)),
		"a__a-7": swebench.OutcomeFromReport("a__a-7", []byte("  \n")),
		"a__a-8": swebench.OutcomeFromReport("a__a-8", []byte(`{"a__a-8": `)),
		"a__a-9": swebench.OutcomeFromReport("a__a-9", []byte(`{"a__a-9": {"resolved": true}}`)),
	}
	o := outcomes["a__a-5"]
	o.FailureReason = "naïve <reason> & co"
	outcomes["a__a-5"] = o
	outcomes["a__a-6"] = swebench.Outcome{FailureReason: "docker build failed", EnvironmentFault: true} // no report.json
	o = outcomes["a__a-9"]
	o.FailureReason, o.EnvironmentFault = "ignored", true // resolved: not a failure
	outcomes["a__a-9"] = o

	r := swebench.BuildRunReport(instances, preds, outcomes)
	got, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if want := golden(t, "run_report.json"); string(got) != want {
		t.Errorf("run report differs from golden:\n%s", got)
	}
	if r.SchemaVersion != 2 || r.DockerLeftovers != nil {
		t.Errorf("schema %d, docker %v", r.SchemaVersion, r.DockerLeftovers)
	}
}

func TestRunReportListsAreNeverNull(t *testing.T) {
	r := swebench.BuildRunReport(nil, nil, nil)
	data, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "null") {
		t.Errorf("empty report has nulls:\n%s", data)
	}
	// A hand-built report with nil lists encodes the same way.
	data2, err := (&swebench.RunReport{SchemaVersion: 2}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != string(data2) {
		t.Errorf("zero report encodes as\n%s\nwant\n%s", data2, data)
	}
}

func TestRunReportDockerLeftoversAreOptional(t *testing.T) {
	r := swebench.BuildRunReport(nil, nil, nil)
	r.DockerLeftovers = &swebench.DockerLeftovers{UnstoppedInstances: 1, UnstoppedContainers: []string{"sweb.eval.x.run1"}}
	data, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if !strings.HasSuffix(s, "    \"schema_version\": 2,\n    \"unstopped_instances\": 1,\n    \"unstopped_containers\": [\n        \"sweb.eval.x.run1\"\n    ],\n    \"unremoved_images\": []\n}\n") {
		t.Errorf("docker fields:\n%s", s)
	}
}

func TestInstanceReportGolden(t *testing.T) {
	full := swebench.InstanceReport{
		PatchExists: true, PatchSuccessfullyApplied: true, Resolved: true,
		TestsStatus: &grading.TestsStatus{
			FailToPass: grading.Tests{Success: []string{
				"tests/test_utils.py::test_prepend_scheme_if_needed[http://user:pass@example.com/path?query-http://user:pass@example.com/path?query]",
				"tests/test_x.py::test_u[é😀\t<&>]",
			}},
			PassToPass: grading.Tests{
				Success: []string{"tests/test_utils.py::TestSuperLen::test_io_streams[StringIO-Test]"},
				Failure: []string{`tests/test_x.py::test_"quoted"\back`},
			},
		},
	}
	tests := []struct {
		golden string
		id     string
		report swebench.InstanceReport
	}{
		{"report.json", "psf__requests-6028", full},
		{"report_patch_none.json", "a__a-1", swebench.InstanceReport{PatchIsNone: true}},
		{"report_infra.json", "a__a-1", swebench.InstanceReport{PatchExists: true, InfraFailure: true, InfraFailureReason: "no space left on device"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden+"/matches_python", func(t *testing.T) {
			got, err := tt.report.Encode(tt.id)
			if err != nil {
				t.Fatal(err)
			}
			want := golden(t, tt.golden)
			if string(got) != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			back, err := swebench.ParseInstanceReport(tt.id, got)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := back.Encode(tt.id)
			if string(again) != want {
				t.Errorf("parse/encode round trip changed the report:\n%s", again)
			}
			if o := swebench.OutcomeFromReport(tt.id, got); !o.HasReport || !o.Valid || o.Resolved != tt.report.Resolved {
				t.Errorf("OutcomeFromReport = %+v", o)
			}
		})
	}
	t.Run("other_instance_is_not_found_in_report", func(t *testing.T) {
		if _, err := swebench.ParseInstanceReport("other", []byte(golden(t, "report.json"))); agora.ErrorCode(err) != agora.EINVALID {
			t.Errorf("ParseInstanceReport = %v", err)
		}
	})
}

func TestOutcomeFromReport(t *testing.T) {
	const id = "a__b-1"
	tests := []struct {
		name            string
		content         string
		valid, resolved bool
	}{
		{"resolved_true_is_resolved", `{"a__b-1": {"resolved": true}}`, true, true},
		{"resolved_false_is_unresolved", `{"a__b-1": {"resolved": false}}`, true, false},
		{"truthy_number_is_resolved", `{"a__b-1": {"resolved": 1}}`, true, true},
		{"empty_string_is_unresolved", `{"a__b-1": {"resolved": ""}}`, true, false},
		{"null_is_unresolved", `{"a__b-1": {"resolved": null}}`, true, false},
		{"sibling_of_another_type_is_ignored", `{"x": 1, "a__b-1": {"resolved": true}}`, true, true},
		{"empty_file_is_invalid", "", false, false},
		{"blank_file_is_invalid", " \n\t", false, false},
		{"bad_json_is_invalid", `{"a__b-1": {`, false, false},
		{"missing_instance_is_invalid", `{"other": {"resolved": true}}`, false, false},
		{"missing_resolved_is_invalid", `{"a__b-1": {}}`, false, false},
		{"non_object_entry_is_invalid", `{"a__b-1": [true]}`, false, false},
		{"non_object_report_is_invalid", `[1]`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := swebench.OutcomeFromReport(id, []byte(tt.content))
			if !o.HasReport || o.Valid != tt.valid || o.Resolved != tt.resolved {
				t.Errorf("OutcomeFromReport(%q) = %+v", tt.content, o)
			}
		})
	}
}

func TestReadOutcome(t *testing.T) {
	dir := t.TempDir()
	t.Run("missing_report_is_zero_outcome", func(t *testing.T) {
		o, err := swebench.ReadOutcome(filepath.Join(dir, "report.json"), "a__b-1")
		if err != nil || o != (swebench.Outcome{}) {
			t.Errorf("ReadOutcome = %+v, %v", o, err)
		}
	})
	t.Run("existing_report_is_read", func(t *testing.T) {
		p := filepath.Join(dir, "report.json")
		if err := swebench.WriteFileAtomic(p, []byte(`{"a__b-1": {"resolved": true}}`)); err != nil {
			t.Fatal(err)
		}
		o, err := swebench.ReadOutcome(p, "a__b-1")
		if err != nil || !o.HasReport || !o.Valid || !o.Resolved {
			t.Errorf("ReadOutcome = %+v, %v", o, err)
		}
	})
}

func TestRunReportFileNames(t *testing.T) {
	if got := swebench.RunReportFileName("org/sub/model", "run-1"); got != "org__sub__model.run-1.json" {
		t.Errorf("RunReportFileName = %q", got)
	}
	if got := swebench.InstanceLogDir("run-1", "org/model", "psf__requests-6028"); got != filepath.Join("logs", "run_evaluation", "run-1", "org__model", "psf__requests-6028") {
		t.Errorf("InstanceLogDir = %q", got)
	}
	for id, ok := range map[string]bool{"run-1": true, "2024.01.01_eval": true, "": false, "../x": false, "a/b": false, ".x": false, strings.Repeat("r", 129): false} {
		if err := swebench.CheckRunID(id); (err == nil) != ok {
			t.Errorf("CheckRunID(%q) = %v", id, err)
		}
	}
}

func TestWriteRunReport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports")
	r := swebench.BuildRunReport(nil, nil, nil)
	path, err := swebench.WriteRunReport(dir, "org/model", "run-1", r)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "org__model.run-1.json") {
		t.Errorf("path %q", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back swebench.RunReport
	if err := json.Unmarshal(data, &back); err != nil || back.SchemaVersion != 2 {
		t.Errorf("written report: %v, %+v", err, back)
	}
	t.Run("unsafe_run_id_is_refused", func(t *testing.T) {
		if _, err := swebench.WriteRunReport(dir, "m", "../escape", r); agora.ErrorCode(err) != agora.EINVALID {
			t.Errorf("WriteRunReport = %v", err)
		}
	})
	t.Run("unsafe_model_is_refused", func(t *testing.T) {
		if _, err := swebench.WriteRunReport(dir, "..", "run-1", r); agora.ErrorCode(err) != agora.EINVALID {
			t.Errorf("WriteRunReport = %v", err)
		}
	})
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "report.json")
	t.Run("new_file_is_written_whole", func(t *testing.T) {
		if err := swebench.WriteFileAtomic(p, []byte("one")); err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(p); string(data) != "one" {
			t.Errorf("content %q", data)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
			t.Errorf("mode %v", fi.Mode())
		}
	})
	t.Run("existing_file_is_replaced", func(t *testing.T) {
		if err := swebench.WriteFileAtomic(p, []byte("two, longer")); err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(p); string(data) != "two, longer" {
			t.Errorf("content %q", data)
		}
	})
	t.Run("no_temporary_file_is_left", func(t *testing.T) {
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("directory holds %d entries", len(entries))
		}
	})
	t.Run("missing_directory_fails_and_writes_nothing", func(t *testing.T) {
		if err := swebench.WriteFileAtomic(filepath.Join(dir, "no", "x.json"), []byte("x")); err == nil {
			t.Error("no error")
		}
	})
	t.Run("directory_target_fails_and_leaves_no_temporary", func(t *testing.T) {
		sub := filepath.Join(dir, "sub")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := swebench.WriteFileAtomic(sub, []byte("x")); err == nil {
			t.Error("no error")
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 2 {
			t.Errorf("directory holds %d entries", len(entries))
		}
	})
}

func TestBuildRunReportCountsEachInstanceOnce(t *testing.T) {
	in := []swebench.Instance{{InstanceID: "a__a-1"}, {InstanceID: "a__a-1"}}
	preds := map[string]swebench.Prediction{"a__a-1": {InstanceID: "a__a-1", ModelNameOrPath: "m", ModelPatch: strp("x")}}
	r := swebench.BuildRunReport(in, preds, map[string]swebench.Outcome{"a__a-1": {HasReport: true, Valid: true, Resolved: true}})
	if !reflect.DeepEqual(r.ResolvedIDs, []string{"a__a-1"}) || r.ResolvedInstances != 1 {
		t.Errorf("report %+v", r)
	}
}
