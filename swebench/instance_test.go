package swebench_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/swebench"
)

func TestLoadInstancesRealDataset(t *testing.T) {
	got, bad, err := swebench.LoadInstances("testdata/instances.jsonl")
	if err != nil || len(bad) != 0 {
		t.Fatalf("LoadInstances: %v, %v", err, bad)
	}
	wantIDs := []string{
		"psf__requests-6028", "pallets__flask-5014", "pallets__flask-4045", "pallets__flask-4992", "pallets__flask-5063",
		"sympy__sympy-20590", "sympy__sympy-24066", "sympy__sympy-24213", "pytest-dev__pytest-10051",
		"pytest-dev__pytest-10356", "pylint-dev__pylint-6903", "pylint-dev__pylint-7228", "pylint-dev__pylint-7993",
	}
	var ids []string
	for _, in := range got {
		ids = append(ids, in.InstanceID)
		if in.Patch == "" || in.TestPatch == "" || in.ProblemStatement == "" || in.EvalScript == "" || in.Image == "" ||
			in.LogParser == "" || in.EvalType != swebench.EvalTypePassAndFail || len(in.FailToPass) == 0 || in.HintsText == nil {
			t.Errorf("%s: a field is missing: %+v", in.InstanceID, in)
		}
		if in.Extra != nil {
			t.Errorf("%s: unexpected extra fields %v", in.InstanceID, in.Extra)
		}
	}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Errorf("ids = %v", ids)
	}
	if sorted := swebench.InstanceIDs(got); sorted[0] != "pallets__flask-4045" || sorted[12] != "sympy__sympy-24213" {
		t.Errorf("InstanceIDs = %v", sorted)
	}
	r := got[0]
	want := swebench.Instance{
		InstanceID:             "psf__requests-6028",
		Repo:                   "psf/requests",
		BaseCommit:             "0192aac24123735b3eaf9b08df46429bb770c283",
		CreatedAt:              "2022-01-04T15:32:52Z",
		Version:                "2.27",
		EnvironmentSetupCommit: "0192aac24123735b3eaf9b08df46429bb770c283",
		Difficulty:             "15 min - 1 hour",
		LogParser:              "parse_log_requests",
		EvalType:               "pass_and_fail",
		Image:                  "swebench/sweb.eval.x86_64.psf_1776_requests-6028:latest",
	}
	if r.InstanceID != want.InstanceID || r.Repo != want.Repo || r.BaseCommit != want.BaseCommit || r.CreatedAt != want.CreatedAt ||
		r.Version != want.Version || r.EnvironmentSetupCommit != want.EnvironmentSetupCommit || r.Difficulty != want.Difficulty ||
		r.LogParser != want.LogParser || r.EvalType != want.EvalType || r.Image != want.Image {
		t.Errorf("first record = %+v", r)
	}
	if len(r.FailToPass) != 2 || len(r.PassToPass) != 185 ||
		r.FailToPass[0] != "tests/test_utils.py::test_prepend_scheme_if_needed[http://user:pass@example.com/path?query-http://user:pass@example.com/path?query]" {
		t.Errorf("test lists: %d F2P %q, %d P2P", len(r.FailToPass), r.FailToPass, len(r.PassToPass))
	}
}

// wantForms is what every fixture in testdata/forms holds: two records,
// one with string-encoded test lists, null hints and an unknown field, one
// with real lists, a numeric version and the v5 fields.
func checkForms(t *testing.T, got []swebench.Instance) {
	t.Helper()
	if len(got) != 2 {
		t.Fatalf("got %d instances", len(got))
	}
	a, b := got[0], got[1]
	if a.InstanceID != "psf__requests-6028" || b.InstanceID != "pallets__flask-5014" {
		t.Fatalf("ids %q, %q", a.InstanceID, b.InstanceID)
	}
	if !reflect.DeepEqual(a.FailToPass, []string{"tests/test_utils.py::test_a", "tests/test_utils.py::test_b"}) ||
		a.PassToPass == nil || len(a.PassToPass) != 0 {
		t.Errorf("string-encoded lists decoded as %q, %q", a.FailToPass, a.PassToPass)
	}
	if !reflect.DeepEqual(b.FailToPass, []string{"tests/test_blueprints.py::test_empty_name_not_allowed"}) ||
		!reflect.DeepEqual(b.PassToPass, []string{"tests/test_x.py::test_y"}) {
		t.Errorf("real lists decoded as %q, %q", b.FailToPass, b.PassToPass)
	}
	if a.HintsText != nil || b.HintsText == nil || *b.HintsText != "" {
		t.Errorf("hints_text: %v, %v", a.HintsText, b.HintsText)
	}
	if b.Version != "2.3" {
		t.Errorf("numeric version read as %q", b.Version)
	}
	if string(a.Extra["some_future_field"]) == "" || len(a.Extra) != 1 || b.Extra != nil {
		t.Errorf("extra fields: %v, %v", a.Extra, b.Extra)
	}
	if b.EvalType != swebench.EvalTypePassAndFail || b.LogParser != "parse_log_pytest" || b.EvalScript == "" || b.Image == "" {
		t.Errorf("v5 fields: %+v", b)
	}
}

func TestLoadInstancesForms(t *testing.T) {
	for _, name := range []string{"list.json", "keyed.json", "lines.jsonl", "lines_in_a.json", "list_in_a.jsonl", "crlf_bom_blank_lines.jsonl", "no_extension"} {
		t.Run(name+"/loads_both_records", func(t *testing.T) {
			got, bad, err := swebench.LoadInstances(filepath.Join("testdata", "forms", name))
			if err != nil || len(bad) != 0 {
				t.Fatalf("LoadInstances: %v, %v", err, bad)
			}
			checkForms(t, got)
		})
	}
	t.Run("single.jsonl/loads_one_record", func(t *testing.T) {
		got, bad, err := swebench.LoadInstances("testdata/forms/single.jsonl")
		if err != nil || len(bad) != 0 || len(got) != 1 || got[0].InstanceID != "psf__requests-6028" {
			t.Fatalf("LoadInstances = %v, %v, %v", got, bad, err)
		}
	})
}

func TestLoadInstancesReportsAndSkipsMalformedItems(t *testing.T) {
	tests := []struct {
		file  string
		item  string
		field string
	}{
		{"missing_instance_id.jsonl", "line 2", "instance_id"},
		{"empty_instance_id.jsonl", "line 2", "instance_id"},
		{"unsafe_instance_id.jsonl", "line 2", "instance_id"},
		{"numeric_instance_id.jsonl", "line 2", "instance_id"},
		{"missing_repo.jsonl", "line 2", "repo"},
		{"repo_not_owner_name.jsonl", "line 2", "repo"},
		{"repo_with_three_parts.jsonl", "line 2", "repo"},
		{"missing_base_commit.jsonl", "line 2", "base_commit"},
		{"short_base_commit.jsonl", "line 2", "base_commit"},
		{"upper_case_base_commit.jsonl", "line 2", "base_commit"},
		{"bad_environment_setup_commit.jsonl", "line 2", "environment_setup_commit"},
		{"duplicate_instance_id.jsonl", "line 3", "instance_id"},
		{"unparseable_fail_to_pass.jsonl", "line 2", "FAIL_TO_PASS"},
		{"fail_to_pass_not_a_list.jsonl", "line 2", "FAIL_TO_PASS"},
		{"pass_to_pass_of_numbers.jsonl", "line 2", "PASS_TO_PASS"},
		{"repo_of_wrong_type.jsonl", "line 2", "repo"},
		{"hints_text_of_wrong_type.jsonl", "line 2", "hints_text"},
		{"unknown_eval_type.jsonl", "line 2", "eval_type"},
		{"record_not_an_object.jsonl", "line 2", ""},
		{"invalid_json_line.jsonl", "line 2", ""},
		{"list_item.json", "index 1", "base_commit"},
		{"keyed_mismatch.json", `key "pallets__flask-9999"`, "instance_id"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, filepath.Ext(tt.file))+"/is_reported_and_skipped", func(t *testing.T) {
			path := filepath.Join("testdata", "malformed", tt.file)
			got, bad, err := swebench.LoadInstances(path)
			if err != nil {
				t.Fatalf("file error: %v", err)
			}
			if len(bad) != 1 {
				t.Fatalf("got %d item errors, want 1: %v", len(bad), bad)
			}
			e := bad[0]
			if e.File != path || e.Item != tt.item || e.Field != tt.field {
				t.Errorf("item error names %q / %q / %q, want %q / %q / %q (%v)", e.File, e.Item, e.Field, path, tt.item, tt.field, &e)
			}
			if agora.ErrorCode(&e) != agora.EINVALID {
				t.Errorf("code %q", agora.ErrorCode(&e))
			}
			if msg := e.Error(); !strings.HasPrefix(msg, path+": "+tt.item+": ") {
				t.Errorf("message %q", msg)
			}
			// The good records around the bad one still load.
			wantGood := 2
			if tt.file == "keyed_mismatch.json" {
				wantGood = 1
			}
			if len(got) != wantGood {
				t.Errorf("loaded %d good instances, want %d", len(got), wantGood)
			}
		})
	}
	t.Run("duplicate/first_record_wins", func(t *testing.T) {
		got, bad, _ := swebench.LoadInstances("testdata/malformed/duplicate_instance_id.jsonl")
		if len(got) != 2 || got[0].Repo != "psf/requests" || bad[0].InstanceID != "psf__requests-6028" ||
			!strings.Contains(bad[0].Error(), "first at line 1") {
			t.Errorf("got %v, %v", got, bad)
		}
	})
	t.Run("several_field_errors_are_all_reported", func(t *testing.T) {
		_, bad, err := swebench.ParseInstances("x.jsonl", []byte(`{"instance_id": "a/b", "repo": "r", "base_commit": "c", "FAIL_TO_PASS": "["}`+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		var fields []string
		for _, e := range bad {
			fields = append(fields, e.Field)
		}
		if !reflect.DeepEqual(fields, []string{"repo", "instance_id", "base_commit", "FAIL_TO_PASS"}) {
			t.Errorf("fields %q", fields)
		}
	})
}

func TestLoadInstancesFileErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
		code string
		msg  string
	}{
		{"missing_file_is_not_found", "testdata/no/such.jsonl", agora.ENOTFOUND, "no such file"},
		{"directory_is_invalid", "testdata", agora.EINVALID, "is a directory"},
		{"syntax_error_names_line_and_column", "testdata/malformed/syntax_error.json", agora.EINVALID, "line 3, column 23"},
		{"csv_is_not_json", "testdata/malformed/not_json.txt", agora.EINVALID, "not JSON or JSONL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, bad, err := swebench.LoadInstances(tt.path)
			if err == nil || got != nil || bad != nil {
				t.Fatalf("LoadInstances = %v, %v, %v", got, bad, err)
			}
			if agora.ErrorCode(err) != tt.code || !strings.Contains(agora.ErrorMessage(err), tt.msg) {
				t.Errorf("error %v, want code %s containing %q", err, tt.code, tt.msg)
			}
		})
	}
	for _, data := range []string{"", "  \n\n", "\xef\xbb\xbf\n", "[]", "{}"} {
		t.Run("empty_input_loads_nothing", func(t *testing.T) {
			got, bad, err := swebench.ParseInstances("x.json", []byte(data))
			if err != nil || len(got) != 0 || len(bad) != 0 {
				t.Errorf("ParseInstances(%q) = %v, %v, %v", data, got, bad, err)
			}
		})
	}
}

func TestInstanceJSONRoundTrip(t *testing.T) {
	in, _, err := swebench.LoadInstances("testdata/forms/list.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, orig := range in {
		data, err := json.Marshal(orig)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		if _, ok := m["FAIL_TO_PASS"].(string); !ok {
			t.Errorf("FAIL_TO_PASS written as %T, want a JSON-encoded string as in the dataset", m["FAIL_TO_PASS"])
		}
		if _, ok := m["hints_text"]; !ok {
			t.Error("hints_text missing")
		}
		var back swebench.Instance
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalize(back), normalize(orig)) {
			t.Errorf("round trip changed the record:\n%+v\n%+v", back, orig)
		}
	}
	t.Run("invalid_record_is_refused", func(t *testing.T) {
		var in swebench.Instance
		err := json.Unmarshal([]byte(`{"instance_id": "x__y-1", "repo": "x/y", "base_commit": "abc"}`), &in)
		var ae *agora.Error
		if !errors.As(err, &ae) || !strings.Contains(ae.Message, "base_commit") {
			t.Errorf("Unmarshal = %v", err)
		}
	})
}

// normalize compacts raw JSON members so that records compare by value.
func normalize(in swebench.Instance) swebench.Instance {
	for k, v := range in.Extra {
		var x any
		_ = json.Unmarshal(v, &x)
		in.Extra[k], _ = json.Marshal(x)
	}
	return in
}

func TestCheckInstanceID(t *testing.T) {
	for id, ok := range map[string]bool{
		"psf__requests-6028":               true,
		"chartjs__Chart.js-10301":          true,
		"oauthlib__oauthlib.1fd52536.x__9": true,
		"":                                 false,
		"a/b":                              false,
		"..":                               false,
		".hidden":                          false,
		"-flag":                            false,
		"sp ace":                           false,
		"nul\x00":                          false,
		strings.Repeat("a", 256):           false,
	} {
		if err := swebench.CheckInstanceID(id); (err == nil) != ok {
			t.Errorf("CheckInstanceID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

// TestInstanceTask: the one way an instance becomes a task; the result
// validates once the caller gives it a title.
func TestInstanceTask(t *testing.T) {
	hints := "see #12"
	in := &swebench.Instance{InstanceID: "Owner__Repo-12", Repo: "owner/repo", BaseCommit: strings.Repeat("a", 40),
		ProblemStatement: "it breaks", HintsText: &hints, Patch: "gold", TestPatch: "tests",
		FailToPass: []string{"t1"}, PassToPass: []string{"t2"}, Version: "1.0"}
	task := in.Task("mirrors/{owner}+{name}/repo")
	if task.Slug != "owner__repo-12" || task.Kind != agora.TaskSWE || task.Repository != "mirrors/owner+repo/repo" ||
		task.BaseRef != in.BaseCommit || task.Environment != "owner/repo" {
		t.Fatalf("task: %+v", task)
	}
	if s := task.SWE; s.InstanceID != in.InstanceID || s.HintsText != hints || s.GoldPatch != "gold" || s.TestPatch != "tests" ||
		s.Version != "1.0" || len(s.FailToPass) != 1 || len(s.PassToPass) != 1 {
		t.Fatalf("swe: %+v", s)
	}
	task.Title = "a title"
	task.SetDefaults()
	if err := task.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := in.Task("").Repository; got != "https://github.com/owner/repo.git" {
		t.Fatalf("default source: %s", got)
	}
}
