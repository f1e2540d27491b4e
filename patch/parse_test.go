package patch_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/patch"
)

func TestParseRealPatches(t *testing.T) {
	for _, in := range instances(t) {
		for kind, diff := range map[string]string{"patch": in.Patch, "test_patch": in.TestPatch} {
			t.Run(in.InstanceID+"/"+kind+"/parses", func(t *testing.T) {
				p := mustParse(t, diff)
				if want := strings.Count(diff, "\ndiff --git ") + 1; len(p.Files) != want {
					t.Errorf("got %d files, want %d", len(p.Files), want)
				}
				if p.Size != len(diff) {
					t.Errorf("Size = %d, want %d", p.Size, len(diff))
				}
				for _, f := range p.Files {
					if !f.Git || f.Binary || f.Renamed || f.Copied || f.Deleted {
						t.Errorf("%s: unexpected flags %+v", f.NewPath, f)
					}
					if f.Hunks == 0 || f.LinesAdded+f.LinesDeleted == 0 {
						t.Errorf("%s: no hunks or lines", f.NewPath)
					}
					if !f.Created && f.OldPath != f.NewPath {
						t.Errorf("old path %q != new path %q", f.OldPath, f.NewPath)
					}
				}
			})
		}
	}
}

// TestParseGolden compares the parse of a few diffs with golden files; run
// with -update to rewrite them. git_features.diff is `git diff -M -C
// --binary` over a commit exercising every header (renames and copies with
// spaces, quoted names with tabs, quotes and UTF-8, binary, symlinks, mode
// change, deletion, missing newline); format_patch.diff is the same commit
// as `git format-patch` mail; plain.diff is `diff -ruN` output, where an
// epoch timestamp marks a created or deleted file.
func TestParseGolden(t *testing.T) {
	cases := map[string]string{
		"git_features":          readFile(t, "testdata/git_features.diff"),
		"format_patch":          readFile(t, "testdata/format_patch.diff"),
		"plain":                 readFile(t, "testdata/plain.diff"),
		"flask-4992_test_patch": instanceByID(t, "pallets__flask-4992").TestPatch,
		"pylint-7228_patch":     instanceByID(t, "pylint-dev__pylint-7228").Patch,
	}
	for name, diff := range cases {
		t.Run(name+"/matches_golden", func(t *testing.T) {
			got, err := json.MarshalIndent(summarize(mustParse(t, diff)), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := readFile(t, golden); string(got) != want {
				t.Errorf("parse differs from %s:\n%s", golden, got)
			}
		})
	}
}

func TestParseFeatures(t *testing.T) {
	tests := []struct {
		name string
		diff string
		want []fileSummary
	}{
		{
			name: "empty_input_is_empty_patch",
			diff: "",
			want: []fileSummary{},
		},
		{
			name: "blank_input_is_empty_patch",
			diff: "\n  \n\t\n",
			want: []fileSummary{},
		},
		{
			name: "quoted_names_are_unquoted",
			diff: "diff --git \"a/sp ace\\t\\303\\251.py\" \"b/sp ace\\t\\303\\251.py\"\n" +
				"--- \"a/sp ace\\t\\303\\251.py\"\n+++ \"b/sp ace\\t\\303\\251.py\"\n@@ -1 +1 @@\n-a\n+b\n",
			want: []fileSummary{{OldPath: "sp ace\té.py", NewPath: "sp ace\té.py", Hunks: 1, LinesAdded: 1, LinesDeleted: 1, Git: true, Line: 1, Names: []string{"sp ace\té.py"}}},
		},
		{
			name: "unquoted_names_with_spaces_split_where_they_repeat",
			diff: "diff --git a/x b/y b/x b/y\n--- a/x b/y\t\n+++ b/x b/y\t\n@@ -1 +1 @@\n-a\n+b\n",
			want: []fileSummary{{OldPath: "x b/y", NewPath: "x b/y", Hunks: 1, LinesAdded: 1, LinesDeleted: 1, Git: true, Line: 1, Names: []string{"x b/y"}}},
		},
		{
			name: "other_prefixes_are_stripped_like_p1",
			diff: "diff --git x/src/m.py y/src/m.py\n--- x/src/m.py\n+++ y/src/m.py\n@@ -1 +1 @@\n-a\n+b\n",
			want: []fileSummary{{OldPath: "src/m.py", NewPath: "src/m.py", Hunks: 1, LinesAdded: 1, LinesDeleted: 1, Git: true, Line: 1, Names: []string{"src/m.py"}}},
		},
		{
			name: "empty_line_counts_as_context",
			diff: "diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n",
			want: []fileSummary{{OldPath: "m.py", NewPath: "m.py", Hunks: 1, LinesAdded: 1, LinesDeleted: 1, Git: true, Line: 1, Names: []string{"m.py"}}},
		},
		{
			name: "text_around_files_is_skipped",
			diff: "From 123 Mon Sep 17 00:00:00 2001\nSubject: fix\n\n---\n m.py | 2 +-\n\n" +
				"diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-a\n+b\n-- \n2.39.2\n",
			want: []fileSummary{{OldPath: "m.py", NewPath: "m.py", Hunks: 1, LinesAdded: 1, LinesDeleted: 1, Git: true, Line: 7, Names: []string{"m.py"}}},
		},
		{
			name: "index_line_names_are_kept_for_check",
			diff: "Index: pkg/m.py\n===================================================================\n--- pkg/m.py\t(revision 1)\n+++ pkg/m.py\t(working copy)\n@@ -1 +1 @@\n-a\n+b\n",
			want: []fileSummary{{OldPath: "m.py", NewPath: "m.py", Hunks: 1, LinesAdded: 1, LinesDeleted: 1, Line: 3, Names: []string{"m.py"}}},
		},
		{
			name: "plain_diff_takes_the_shorter_of_related_names",
			diff: "--- a/m.py.orig\t2024-01-01 00:00:00 +0000\n+++ b/m.py\t2024-01-01 00:00:00 +0000\n@@ -1 +1 @@\n-a\n+b\n",
			want: []fileSummary{{OldPath: "m.py", NewPath: "m.py", Hunks: 1, LinesAdded: 1, LinesDeleted: 1, Line: 1, Names: []string{"m.py.orig", "m.py"}}},
		},
		{
			name: "plain_dev_null_creates",
			diff: "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1,2 @@\n+a\n+b\n",
			want: []fileSummary{{NewPath: "new.py", Created: true, Hunks: 1, LinesAdded: 2, Line: 1, Names: []string{"new.py"}}},
		},
		{
			name: "symlink_target_is_the_added_line",
			diff: "diff --git a/l b/l\nnew file mode 120000\nindex 0000000..1b2c3d4\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+docs/x\n\\ No newline at end of file\n",
			want: []fileSummary{{NewPath: "l", Created: true, NewMode: "120000", Hunks: 1, LinesAdded: 1, SymlinkTarget: "docs/x", Git: true, Line: 1, Names: []string{"l"}}},
		},
		{
			name: "symlink_target_keeps_a_final_newline_without_marker",
			diff: "diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+docs/x\n",
			want: []fileSummary{{NewPath: "l", Created: true, NewMode: "120000", Hunks: 1, LinesAdded: 1, SymlinkTarget: "docs/x\n", Git: true, Line: 1, Names: []string{"l"}}},
		},
		{
			name: "symlink_target_unknown_with_context_lines",
			diff: "diff --git a/l b/l\nindex 1..2 120000\n--- a/l\n+++ b/l\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n",
			want: []fileSummary{{OldPath: "l", NewPath: "l", OldMode: "120000", NewMode: "120000", Hunks: 1, LinesAdded: 1, LinesDeleted: 1, Git: true, Line: 1, Names: []string{"l"}}},
		},
		{
			name: "unified_zero_hunks",
			diff: "diff --git a/m b/m\n--- a/m\n+++ b/m\n@@ -3 +3 @@\n-a\n+b\n@@ -9,0 +10,2 @@\n+c\n+d\n",
			want: []fileSummary{{OldPath: "m", NewPath: "m", Hunks: 2, LinesAdded: 3, LinesDeleted: 1, Git: true, Line: 1, Names: []string{"m"}}},
		},
		{
			name: "header_only_names_with_spaces",
			diff: "diff --git a/my file b/my file\nold mode 100644\nnew mode 100755\n",
			want: []fileSummary{{OldPath: "my file", NewPath: "my file", OldMode: "100644", NewMode: "100755", Git: true, Line: 1, Names: []string{"my file"}}},
		},
		{
			name: "binary_files_differ",
			diff: "diff --git a/img.png b/img.png\nindex 1..2 100644\nBinary files a/img.png and b/img.png differ\n",
			want: []fileSummary{{OldPath: "img.png", NewPath: "img.png", OldMode: "100644", NewMode: "100644", Binary: true, Git: true, Line: 1, Names: []string{"img.png"}}},
		},
		{
			name: "hunk_line_that_looks_like_a_header_stays_in_the_hunk",
			diff: "diff --git a/m b/m\n--- a/m\n+++ b/m\n@@ -1 +1 @@\n--- a/.git/config\n+++ b/.git/config\n",
			want: []fileSummary{{OldPath: "m", NewPath: "m", Hunks: 1, LinesAdded: 1, LinesDeleted: 1, Git: true, Line: 1, Names: []string{"m"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(mustParse(t, tt.diff))
			if !reflect.DeepEqual(got, tt.want) {
				g, _ := json.MarshalIndent(got, "", "  ")
				w, _ := json.MarshalIndent(tt.want, "", "  ")
				t.Errorf("got\n%s\nwant\n%s", g, w)
			}
		})
	}
}

func TestParseRejectsMalformedInput(t *testing.T) {
	const hdr = "diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n"
	tests := []struct {
		name string
		diff string
		line int
	}{
		{"text_without_any_file_is_refused", "just some words\n", 1},
		{"truncated_hunk_is_refused", hdr + "@@ -1,3 +1,3 @@\n a\n-b\n", 4},
		{"hunk_with_foreign_line_is_refused", hdr + "@@ -1,2 +1,2 @@\n a\n*b\n", 6},
		{"hunk_longer_than_header_is_refused", hdr + "@@ -1 +1,2 @@\n a\n b\n", 6},
		{"too_many_removed_lines_are_refused", hdr + "@@ -1 +1,2 @@\n-a\n-b\n", 6},
		{"bad_hunk_header_is_refused", hdr + "@@ -x +1 @@\n", 4},
		{"empty_hunk_is_refused", hdr + "@@ -1,0 +1,0 @@\n", 4},
		{"hunk_outside_file_is_refused", "@@ -1 +1 @@\n-a\n+b\n", 1},
		{"context_diff_is_refused", "*** a/m.py\n--- b/m.py\n***************\n", 1},
		{"ed_script_is_refused", "5a\nnew line\n.\n", 1},
		{"normal_diff_is_refused", "3c3\n< a\n---\n> b\n", 1},
		{"combined_diff_is_refused", "diff --cc m.py\n", 1},
		{"inconsistent_names_are_refused", "diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/other.py\n@@ -1 +1 @@\n-a\n+b\n", 3},
		{"minus_without_plus_is_refused", "diff --git a/m.py b/m.py\n--- a/m.py\n@@ -1 +1 @@\n", 2},
		{"plus_without_minus_is_refused", "diff --git a/m.py b/m.py\n+++ b/m.py\n@@ -1 +1 @@\n", 2},
		{"new_file_with_old_name_is_refused", "diff --git a/n.py b/n.py\nnew file mode 100644\n--- a/n.py\n+++ b/n.py\n@@ -0,0 +1 @@\n+x\n", 3},
		{"dev_null_without_new_file_mode_is_refused", "diff --git a/n.py b/n.py\n--- /dev/null\n+++ b/n.py\n@@ -0,0 +1 @@\n+x\n", 2},
		{"new_file_with_old_lines_is_refused", "diff --git a/n.py b/n.py\nnew file mode 100644\n--- /dev/null\n+++ b/n.py\n@@ -1 +1 @@\n-a\n+x\n", 5},
		{"created_and_deleted_is_refused", "diff --git a/n.py b/n.py\nnew file mode 100644\ndeleted file mode 100644\n", 1},
		{"half_a_rename_is_refused", "diff --git a/x b/y\nrename from x\n", 1},
		{"rename_disagreeing_with_header_is_refused", "diff --git a/x b/x\nrename from y\nrename to x\n", 2},
		{"header_without_names_is_refused", "diff --git a/x b/y\nindex 1..2 100644\n", 1},
		{"ambiguous_plain_name_is_refused", "--- a/my file.py\n+++ b/my file.py\n@@ -1 +1 @@\n-a\n+b\n", 1},
		{"git_name_with_space_but_no_tab_is_refused", "diff --git a/my file b/my file\n--- a/my file\n+++ b/my file\n@@ -1 +1 @@\n-a\n+b\n", 2},
		{"name_with_trailing_space_is_refused", "--- a/x \t2024-01-01\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", 1},
		{"name_with_leading_space_is_refused", "---  a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", 1},
		{"both_dev_null_is_refused", "--- /dev/null\n+++ /dev/null\n", 1},
		{"empty_name_is_refused", "--- \t2024-01-01\n+++ b/x\n", 1},
		{"name_that_is_only_a_prefix_is_refused", "--- a/\n+++ b/\n@@ -1 +1 @@\n-a\n+b\n", 1},
		{"bad_quoted_name_is_refused", "diff --git \"a/x\\q\" \"b/x\\q\"\n", 1},
		{"bad_mode_is_refused", "diff --git a/x b/x\nold mode 10064z\n", 2},
		{"bad_index_line_is_refused", "diff --git a/x b/x\nindex zz..yy\n", 2},
		{"binary_patch_without_block_is_refused", "diff --git a/x b/x\nGIT binary patch\nnonsense\n", 3},
		{"bad_base85_line_is_refused", "diff --git a/x b/x\nGIT binary patch\nliteral 4\nZabc\n\n", 4},
		{"misplaced_no_newline_marker_is_refused", hdr + "@@ -1 +1 @@\n\\ No newline at end of file\n-a\n+b\n", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := patch.Parse([]byte(tt.diff))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", summarize(p))
			}
			var pe *patch.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if pe.Line != tt.line {
				t.Errorf("error at line %d, want %d: %v", pe.Line, tt.line, err)
			}
			if code := agora.ErrorCode(err); code != agora.EINVALID {
				t.Errorf("code %q, want %q", code, agora.EINVALID)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	p := mustParse(t, readFile(t, "testdata/git_features.diff"))
	want := []string{"big.txt", "big moved.txt", "bin.dat", "dir a/b/c d.py", "copy of c.py", "empty.txt", "exe.sh", "link",
		"new file.py", "newlink", "nonl.txt", "quo\"te.py", "tab\tname.py", "renamed\ttab.py", "with space.txt", "ünï cødé.py"}
	if got := p.Paths(); !reflect.DeepEqual(got, want) {
		t.Errorf("Paths() = %q\nwant %q", got, want)
	}
}

func TestTouched(t *testing.T) {
	t.Run("flask-4992_test_patch_creates_a_toml_file", func(t *testing.T) {
		p := mustParse(t, instanceByID(t, "pallets__flask-4992").TestPatch)
		modified, created := p.Touched()
		if !reflect.DeepEqual(modified, []string{"tests/test_config.py"}) || !reflect.DeepEqual(created, []string{"tests/static/config.toml"}) {
			t.Errorf("Touched() = %q, %q", modified, created)
		}
	})
	t.Run("renames_and_copies_create_their_targets", func(t *testing.T) {
		p := mustParse(t, readFile(t, "testdata/git_features.diff"))
		modified, created := p.Touched()
		wantM := []string{"big.txt", "bin.dat", "dir a/b/c d.py", "empty.txt", "exe.sh", "link", "nonl.txt", "quo\"te.py", "tab\tname.py", "with space.txt", "ünï cødé.py"}
		wantC := []string{"big moved.txt", "copy of c.py", "new file.py", "newlink", "renamed\ttab.py"}
		if !reflect.DeepEqual(modified, wantM) {
			t.Errorf("modified = %q\nwant %q", modified, wantM)
		}
		if !reflect.DeepEqual(created, wantC) {
			t.Errorf("created = %q\nwant %q", created, wantC)
		}
	})
	t.Run("plain_diff_lists_every_name_as_modified", func(t *testing.T) {
		// git writes src/long_name.py; GNU patch would pick the existing
		// file with the shorter base name, tests/t.py.
		p := mustParse(t, "--- a/tests/t.py\t2024-01-01 00:00:00 +0000\n+++ b/src/long_name.py\t2024-01-01 00:00:00 +0000\n@@ -1 +1 @@\n-a\n+b\n")
		modified, created := p.Touched()
		if !reflect.DeepEqual(modified, []string{"src/long_name.py", "tests/t.py"}) || len(created) != 0 {
			t.Errorf("Touched() = %q, %q", modified, created)
		}
	})
	t.Run("index_names_are_listed_as_modified", func(t *testing.T) {
		p := mustParse(t, "Index: a/conftest.py\n--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+x\n")
		modified, created := p.Touched()
		if !reflect.DeepEqual(modified, []string{"conftest.py"}) || !reflect.DeepEqual(created, []string{"new.py"}) {
			t.Errorf("Touched() = %q, %q", modified, created)
		}
	})
	t.Run("every_real_test_patch_modifies_its_test_files", func(t *testing.T) {
		for _, in := range instances(t) {
			modified, created := mustParse(t, in.TestPatch).Touched()
			if len(modified) == 0 {
				t.Errorf("%s: nothing modified", in.InstanceID)
			}
			for _, m := range append(modified, created...) {
				if !strings.HasPrefix(m, "tests/") && !strings.HasPrefix(m, "testing/") && !strings.Contains(m, "/tests/") {
					t.Errorf("%s: %q is not under a test directory", in.InstanceID, m)
				}
			}
		}
	})
}
