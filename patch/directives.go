package patch

import (
	"regexp"
	"strings"
)

// nonTestExts is SWE-bench's NON_TEST_EXTS. "csv" really has no dot, so
// any path ending in "csv" (say "tests/parse_csv") is dropped too.
var nonTestExts = []string{".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml"}

// diffGitPat is SWE-bench's pattern, applied with re.findall to the raw
// text: unanchored, so it also matches inside a hunk line that happens to
// contain "diff --git a/… b/…", and greedy, so the name is what follows the
// last " b/" on the line.
var diffGitPat = regexp.MustCompile(`diff --git a/.* b/(.*)`)

// TestDirectives returns the test files or labels to pass to the test
// command, exactly as SWE-bench's get_test_directives computes them from an
// instance's test patch: every match of `diff --git a/.* b/(.*)` in the
// patch text, minus paths ending in one of NON_TEST_EXTS; for
// "django/django", each path loses ".py" and a leading "tests/", and "/"
// becomes ".", giving a module label for runtests.py; for
// "swe-bench/humaneval" it is always "test.py". Quirks are kept on purpose:
// the directive list is part of the eval script whose output is graded.
func TestDirectives(testPatch *Patch, repo string) []string {
	if repo == "swe-bench/humaneval" {
		return []string{"test.py"}
	}
	out := []string{}
	if testPatch == nil {
		return out
	}
	for _, m := range diffGitPat.FindAllStringSubmatch(testPatch.src, -1) {
		d := m[1]
		skip := false
		for _, ext := range nonTestExts {
			if strings.HasSuffix(d, ext) {
				skip = true
				break
			}
		}
		if skip {
			continue
		}
		if repo == "django/django" {
			d = strings.TrimSuffix(d, ".py")
			d = strings.TrimPrefix(d, "tests/")
			d = strings.ReplaceAll(d, "/", ".")
		}
		out = append(out, d)
	}
	return out
}
