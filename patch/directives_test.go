package patch_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/agoranet/agora/patch"
)

// testLine returns the test command SWE-bench put in an instance's eval
// script: the line after the start-of-output marker.
func testLine(t *testing.T, evalScript string) string {
	t.Helper()
	lines := strings.Split(evalScript, "\n")
	for i, l := range lines {
		if strings.Contains(l, ">>>>> Start Test Output") && i+1 < len(lines) {
			return lines[i+1]
		}
	}
	t.Fatal("no start marker in eval_script")
	return ""
}

func TestTestDirectivesMatchRealEvalScripts(t *testing.T) {
	for _, in := range instances(t) {
		t.Run(in.InstanceID+"/matches_eval_script", func(t *testing.T) {
			dirs := patch.TestDirectives(mustParse(t, in.TestPatch), in.Repo)
			if len(dirs) == 0 {
				t.Fatal("no directives")
			}
			if line := testLine(t, in.EvalScript); !strings.HasSuffix(line, " "+strings.Join(dirs, " ")) {
				t.Errorf("eval script runs %q, directives are %q", line, dirs)
			}
		})
	}
}

func TestTestDirectives(t *testing.T) {
	diff := func(paths ...string) string {
		var b strings.Builder
		for _, p := range paths {
			b.WriteString("diff --git a/" + p + " b/" + p + "\n--- a/" + p + "\n+++ b/" + p + "\n@@ -1 +1 @@\n-a\n+b\n")
		}
		return b.String()
	}
	tests := []struct {
		name string
		diff string
		repo string
		want []string
	}{
		{"non_test_extensions_are_dropped", diff("tests/test_a.py", "tests/data.json", "tests/img.png", "tests/notes.txt", "README.md", "a.jpg", "b.jpeg", "c.pkl", "ci.yml", "ci.yaml", "pyproject.toml"), "psf/requests", []string{"tests/test_a.py"}},
		{"csv_without_dot_drops_any_name_ending_in_csv", diff("tests/data.csv", "tests/test_readcsv", "tests/test_csv.py"), "pallets/flask", []string{"tests/test_csv.py"}},
		{"django_paths_become_module_labels", diff("tests/model_fields/test_jsonfield.py", "tests/admin_views/tests.py", "django/test/utils.py", "tests/templates/x.html"), "django/django", []string{"model_fields.test_jsonfield", "admin_views.tests", "django.test.utils", "templates.x.html"}},
		{"django_rule_is_for_django_only", diff("tests/model_fields/test_jsonfield.py"), "psf/requests", []string{"tests/model_fields/test_jsonfield.py"}},
		{"renamed_file_gives_its_new_name", "diff --git a/tests/old.py b/tests/new.py\nsimilarity index 100%\nrename from tests/old.py\nrename to tests/new.py\n", "psf/requests", []string{"tests/new.py"}},
		{"header_text_inside_a_hunk_is_matched_too", "diff --git a/tests/t.py b/tests/t.py\n--- a/tests/t.py\n+++ b/tests/t.py\n@@ -1 +1,2 @@\n x\n+S = 'diff --git a/q b/tests/fake.py'\n", "psf/requests", []string{"tests/t.py", "tests/fake.py'"}},
		{"greedy_match_takes_text_after_the_last_b_slash", "diff --git a/x b/y b/z.py b/x b/y b/z.py\n--- a/x b/y b/z.py\t\n+++ b/x b/y b/z.py\t\n@@ -1 +1 @@\n-a\n+b\n", "psf/requests", []string{"z.py"}},
		{"humaneval_always_runs_test_py", diff("tests/test_a.py"), "swe-bench/humaneval", []string{"test.py"}},
		{"empty_patch_gives_no_directives", "", "psf/requests", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := patch.TestDirectives(mustParse(t, tt.diff), tt.repo); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("TestDirectives = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("nil_patch_gives_no_directives", func(t *testing.T) {
		if got := patch.TestDirectives(nil, "psf/requests"); got == nil || len(got) != 0 {
			t.Errorf("TestDirectives(nil) = %#v", got)
		}
	})
}

func TestDiffGitTargets(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		want      []string
	}{
		{"CreatedAndNonTestFilesIncluded", "diff --git a/t/a.py b/t/a.py\n--- a/t/a.py\n+++ b/t/a.py\ndiff --git a/t/new.yml b/t/new.yml\nnew file mode 100644\n--- /dev/null\n+++ b/t/new.yml\n", []string{"t/a.py", "t/new.yml"}},
		{"RenameGivesNewName", "diff --git a/t/old.py b/t/new.py\nrename from t/old.py\nrename to t/new.py\n", []string{"t/new.py"}},
		{"DuplicatesKept", "diff --git a/x b/x\ndiff --git a/x b/x\n", []string{"x", "x"}},
		{"CarriageReturnKept", "diff --git a/x b/x\r\n", []string{"x\r"}},
		{"HeaderSplitOverLinesIsNoMatch", "diff --git a/x\n b/x\n", []string{}},
		{"Empty", "", []string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := patch.DiffGitTargets(tt.src); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DiffGitTargets=%q, want %q", got, tt.want)
			}
		})
	}
}
