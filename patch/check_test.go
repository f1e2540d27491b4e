package patch_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/patch"
)

// newFileDiff is `git diff` for a created file; path is written as given,
// so a caller may pass a quoted name.
func newFileDiff(path, content string) string {
	a, b := "a/"+path, "b/"+path
	if strings.HasPrefix(path, `"`) {
		a, b = `"a/`+path[1:], `"b/`+path[1:]
	}
	return fmt.Sprintf("diff --git %s %s\nnew file mode 100644\nindex 0000000..1234567\n--- /dev/null\n+++ %s\n@@ -0,0 +1 @@\n+%s\n", a, b, b, content)
}

// symlinkDiff is `git diff` for a created symlink.
func symlinkDiff(path, target string) string {
	return fmt.Sprintf("diff --git a/%s b/%s\nnew file mode 120000\nindex 0000000..1234567\n--- /dev/null\n+++ b/%s\n@@ -0,0 +1 @@\n+%s\n\\ No newline at end of file\n", path, path, path, target)
}

func TestCheckAcceptsRealPatches(t *testing.T) {
	for _, in := range instances(t) {
		t.Run(in.InstanceID+"/accepted", func(t *testing.T) {
			gold := mustParse(t, in.Patch)
			for _, rules := range []patch.Rules{
				{},
				{Allowed: gold.Paths()},
				{Allowed: []string{"**"}},
				{Allowed: []string{"*"}, FnmatchCompat: true},
				{RefuseBinary: true},
			} {
				if err := patch.Check(gold, rules); err != nil {
					t.Errorf("gold patch with %+v: %v", rules, err)
				}
			}
			if err := patch.Check(mustParse(t, in.TestPatch), patch.Rules{}); err != nil {
				t.Errorf("test patch: %v", err)
			}
		})
	}
}

func TestCheckRules(t *testing.T) {
	gold := instanceByID(t, "psf__requests-6028").Patch // edits requests/utils.py
	const target = "requests/utils.py"
	at := func(p string) string { return retarget(gold, target, p) }
	big := strings.Repeat("x", 300)

	tests := []struct {
		name  string
		diff  string
		rules patch.Rules
		rule  patch.Rule // "" when the patch must be accepted
		path  string     // the Violation's path, when checked
	}{
		// .git in any form.
		{"git_dir_is_refused", at(".git/hooks/pre-commit"), patch.Rules{}, patch.RuleGitDir, ".git/hooks/pre-commit"},
		{"nested_git_dir_is_refused", at("vendor/lib/.git/config"), patch.Rules{}, patch.RuleGitDir, ""},
		{"upper_case_git_dir_is_refused", at(".GIT/config"), patch.Rules{}, patch.RuleGitDir, ""},
		{"mixed_case_git_dir_is_refused", at(".Git/config"), patch.Rules{}, patch.RuleGitDir, ""},
		{"git_dir_with_trailing_dot_is_refused", at(".git./config"), patch.Rules{}, patch.RuleGitDir, ""},
		{"git_dir_with_trailing_space_is_refused", newFileDiff(`".git /config"`, "x"), patch.Rules{}, patch.RuleGitDir, ""},
		{"ntfs_short_name_is_refused", at("GIT~1/config"), patch.Rules{}, patch.RuleGitDir, ""},
		{"ntfs_stream_is_refused", at(".git::$INDEX_ALLOCATION/config"), patch.Rules{}, patch.RuleGitDir, ""},
		{"hfs_ignorable_git_dir_is_refused", at(".g\u200cit/config"), patch.Rules{}, patch.RuleGitDir, ""},
		{"git_dir_as_prefix_is_refused", strings.ReplaceAll(gold, "a/"+target, ".git/"+target), patch.Rules{}, patch.RuleGitDir, ""},
		{"rename_into_git_dir_is_refused", "diff --git a/x b/.git/config\nsimilarity index 100%\nrename from x\nrename to .git/config\n", patch.Rules{}, patch.RuleGitDir, ".git/config"},
		{"index_line_into_git_dir_is_refused", "Index: .git/config\n" + at("m.py"), patch.Rules{}, patch.RuleGitDir, ""},
		{"gitmodules_is_accepted", at(".gitmodules"), patch.Rules{}, "", ""},
		{"gitignore_is_accepted", at("sub/.gitignore"), patch.Rules{}, "", ""},

		// Absolute paths and "..".
		{"plain_absolute_path_is_refused", "--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n", patch.Rules{}, patch.RuleAbsolute, "/etc/passwd"},
		{"absolute_after_prefix_is_refused", at("/etc/cron.d/x"), patch.Rules{}, patch.RuleAbsolute, ""},
		{"dot_dot_is_refused", at("../../etc/passwd"), patch.Rules{}, patch.RuleDotDot, ""},
		{"inner_dot_dot_is_refused", at("requests/../../x.py"), patch.Rules{}, patch.RuleDotDot, ""},
		{"dot_dot_as_prefix_is_refused", strings.ReplaceAll(gold, "a/"+target, "../"+target), patch.Rules{}, patch.RuleDotDot, ""},
		{"dot_dot_in_rename_is_refused", "diff --git a/x b/y\nsimilarity index 100%\nrename from x\nrename to ../y\n", patch.Rules{}, patch.RuleDotDot, ""},

		// Characters and shape.
		{"nul_is_refused", newFileDiff(`"x\000y.py"`, "x"), patch.Rules{}, patch.RuleControl, ""},
		{"newline_is_refused", newFileDiff(`"x\ny.py"`, "x"), patch.Rules{}, patch.RuleControl, ""},
		{"tab_is_refused", newFileDiff(`"x\ty.py"`, "x"), patch.Rules{}, patch.RuleControl, ""},
		{"del_is_refused", newFileDiff(`"x\177y.py"`, "x"), patch.Rules{}, patch.RuleControl, ""},
		{"c1_control_is_refused", newFileDiff(`"x\302\205y.py"`, "x"), patch.Rules{}, patch.RuleControl, ""},
		{"carriage_return_from_crlf_is_refused", strings.ReplaceAll(gold, "\n", "\r\n"), patch.Rules{}, patch.RuleControl, ""},
		{"invalid_utf8_is_refused", newFileDiff(`"x\377.py"`, "x"), patch.Rules{}, patch.RuleEncoding, ""},
		{"utf8_name_is_accepted", newFileDiff(`"d\303\251j\303\240.py"`, "x"), patch.Rules{}, "", ""},
		{"empty_component_is_refused", at("requests//utils.py"), patch.Rules{}, patch.RuleComponent, ""},
		{"dot_component_is_refused", at("requests/./utils.py"), patch.Rules{}, patch.RuleComponent, ""},
		{"dot_prefix_is_accepted", "--- ./m.py\n+++ ./m.py\n@@ -1 +1 @@\n-a\n+b\n", patch.Rules{}, "", ""},
		{"empty_index_path_is_refused", "Index: a/\n" + gold, patch.Rules{}, patch.RuleEmpty, ""},
		{"long_component_is_refused", at(big + ".py"), patch.Rules{}, patch.RuleTooLong, ""},
		{"long_path_is_refused", at(strings.Repeat("d/", 2100) + "x.py"), patch.Rules{}, patch.RuleTooLong, ""},

		// Symlinks.
		{"symlink_inside_tree_is_accepted", symlinkDiff("docs/l", "../src/x.py"), patch.Rules{}, "", ""},
		{"absolute_symlink_is_refused", symlinkDiff("l", "/etc/passwd"), patch.Rules{}, patch.RuleSymlink, "l"},
		{"escaping_symlink_is_refused", symlinkDiff("docs/l", "../../etc"), patch.Rules{}, patch.RuleSymlink, "docs/l"},
		{"symlink_to_parent_of_root_is_refused", symlinkDiff("l", ".."), patch.Rules{}, patch.RuleSymlink, ""},
		{"symlink_escaping_through_dots_is_refused", symlinkDiff("l", "a/../../b"), patch.Rules{}, patch.RuleSymlink, ""},
		{"symlink_into_git_dir_is_refused", symlinkDiff("docs/l", "../.git"), patch.Rules{}, patch.RuleSymlink, ""},
		{"symlink_resolving_into_git_dir_is_refused", symlinkDiff("docs/l", "x/../../.GIT/hooks"), patch.Rules{}, patch.RuleSymlink, ""},
		{"symlink_target_with_newline_is_refused", strings.Replace(symlinkDiff("l", "x"), "\\ No newline at end of file\n", "", 1), patch.Rules{}, patch.RuleSymlink, ""},
		{"symlink_with_unknown_target_is_refused", "diff --git a/l b/l\nindex 1..2 120000\n--- a/l\n+++ b/l\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n", patch.Rules{}, patch.RuleSymlink, ""},
		{"symlink_made_by_mode_change_is_refused", "diff --git a/l b/l\nold mode 100644\nnew mode 120000\n", patch.Rules{}, patch.RuleSymlink, ""},
		{"binary_symlink_is_refused", "diff --git a/l b/l\nnew file mode 120000\nindex 0000000..1234567\nBinary files /dev/null and b/l differ\n", patch.Rules{}, patch.RuleSymlink, ""},
		{"path_under_new_symlink_is_refused", symlinkDiff("l", "docs") + newFileDiff("l/x.py", "x"), patch.Rules{}, patch.RuleThroughLink, "l/x.py"},
		{"path_under_new_symlink_in_other_case_is_refused", symlinkDiff("l", "docs") + newFileDiff("L/x.py", "x"), patch.Rules{}, patch.RuleThroughLink, ""},
		{"deleted_symlink_is_accepted", "diff --git a/l b/l\ndeleted file mode 120000\nindex 1234567..0000000\n--- a/l\n+++ /dev/null\n@@ -1 +0,0 @@\n-/etc\n\\ No newline at end of file\n", patch.Rules{}, "", ""},

		// Modes and binaries.
		{"submodule_is_refused", "diff --git a/sub b/sub\nnew file mode 160000\nindex 0000000..1234567\n--- /dev/null\n+++ b/sub\n@@ -0,0 +1 @@\n+Subproject commit 1234567890123456789012345678901234567890\n", patch.Rules{}, patch.RuleMode, "sub"},
		{"setuid_mode_is_refused", "diff --git a/x b/x\nold mode 100644\nnew mode 104755\n", patch.Rules{}, patch.RuleMode, ""},
		{"executable_mode_is_accepted", "diff --git a/x b/x\nold mode 100644\nnew mode 100755\n", patch.Rules{}, "", ""},
		{"binary_is_accepted_by_default", "diff --git a/img.png b/img.png\nindex 1..2 100644\nBinary files a/img.png and b/img.png differ\n", patch.Rules{}, "", ""},
		{"binary_is_refused_on_request", "diff --git a/img.png b/img.png\nindex 1..2 100644\nBinary files a/img.png and b/img.png differ\n", patch.Rules{RefuseBinary: true}, patch.RuleBinary, "img.png"},

		// Bytecode (BitSota's rule).
		{"pyc_is_refused", newFileDiff("pkg/__pycache__/m.cpython-311.pyc", "x"), patch.Rules{}, patch.RuleBytecode, "pkg/__pycache__/m.cpython-311.pyc"},
		{"pyo_is_refused", newFileDiff("m.pyo", "x"), patch.Rules{}, patch.RuleBytecode, ""},
		{"upper_case_pyc_is_refused", newFileDiff("m.PYC", "x"), patch.Rules{}, patch.RuleBytecode, ""},
		{"deleting_pyc_is_refused", "diff --git a/m.pyc b/m.pyc\ndeleted file mode 100644\nBinary files a/m.pyc and /dev/null differ\n", patch.Rules{}, patch.RuleBytecode, ""},

		// Size.
		{"patch_over_default_size_is_refused", newFileDiff("big.py", strings.Repeat("x", patch.DefaultMaxBytes)), patch.Rules{}, patch.RuleSize, ""},
		{"patch_over_custom_size_is_refused", gold, patch.Rules{MaxBytes: 100}, patch.RuleSize, ""},
		{"patch_at_size_limit_is_accepted", gold, patch.Rules{MaxBytes: len(gold)}, "", ""},
		{"unlimited_size_is_accepted", newFileDiff("big.py", strings.Repeat("x", patch.DefaultMaxBytes)), patch.Rules{MaxBytes: -1}, "", ""},

		// Allowed globs.
		{"path_outside_globs_is_refused", gold, patch.Rules{Allowed: []string{"src/**"}}, patch.RuleNotAllowed, target},
		{"path_inside_globs_is_accepted", gold, patch.Rules{Allowed: []string{"docs/*", "requests/**"}}, "", ""},
		{"star_stops_at_slash_by_default", at("requests/sub/utils.py"), patch.Rules{Allowed: []string{"requests/*"}}, patch.RuleNotAllowed, ""},
		{"star_crosses_slash_in_fnmatch_mode", at("requests/sub/utils.py"), patch.Rules{Allowed: []string{"requests/*"}, FnmatchCompat: true}, "", ""},
		{"both_rename_paths_must_match", "diff --git a/src/x b/lib/x\nsimilarity index 100%\nrename from src/x\nrename to lib/x\n", patch.Rules{Allowed: []string{"src/**"}}, patch.RuleNotAllowed, "lib/x"},
		{"index_line_name_must_match", "Index: secret/m.py\n" + at("src/m.py"), patch.Rules{Allowed: []string{"src/**"}}, patch.RuleNotAllowed, ""},
		{"applier_path_not_written_prefix_is_matched", strings.ReplaceAll(at("src/evil.py"), "a/src/", "src/"), patch.Rules{Allowed: []string{"src/**"}}, patch.RuleNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.diff)
			err := patch.Check(p, tt.rules)
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("Check refused it: %v", err)
				}
				return
			}
			var v *patch.Violation
			if !errors.As(err, &v) {
				t.Fatalf("Check = %v, want a %s violation", err, tt.rule)
			}
			if v.Rule != tt.rule {
				t.Errorf("rule %s, want %s (%v)", v.Rule, tt.rule, err)
			}
			if tt.path != "" && v.Path != tt.path {
				t.Errorf("path %q, want %q", v.Path, tt.path)
			}
			wantCode := agora.EINVALID
			if tt.rule == patch.RuleSize {
				wantCode = agora.ETOOLARGE
			}
			if code := agora.ErrorCode(err); code != wantCode {
				t.Errorf("code %q, want %q", code, wantCode)
			}
			if v.Rule != patch.RuleSize && !strings.Contains(err.Error(), string(v.Rule)) {
				t.Errorf("message %q does not name the rule", err)
			}
		})
	}
}

func TestCheckRefusesBadRules(t *testing.T) {
	p := mustParse(t, instanceByID(t, "psf__requests-6028").Patch)
	tooMany := make([]string, patch.MaxGlobs+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("dir%d/**", i)
	}
	for name, rules := range map[string]patch.Rules{
		"too_many_globs_are_refused": {Allowed: tooMany},
		"bad_glob_is_refused":        {Allowed: []string{"src/[a-"}},
		"empty_glob_is_refused":      {Allowed: []string{""}},
		"huge_glob_is_refused":       {Allowed: []string{strings.Repeat("a", patch.MaxGlobLen+1)}},
	} {
		t.Run(name, func(t *testing.T) {
			err := patch.Check(p, rules)
			var v *patch.Violation
			if err == nil || errors.As(err, &v) || agora.ErrorCode(err) != agora.EINVALID {
				t.Errorf("Check = %v, want a plain EINVALID error", err)
			}
		})
	}
	t.Run("max_globs_are_accepted", func(t *testing.T) {
		rules := patch.Rules{Allowed: append(tooMany[:patch.MaxGlobs-1], "requests/**")}
		if err := patch.Check(p, rules); err != nil {
			t.Error(err)
		}
	})
}
