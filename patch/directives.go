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
	src := ""
	if testPatch != nil {
		src = testPatch.src
	}
	return TestDirectivesText(src, repo)
}

// TestDirectivesText is TestDirectives on a test patch's raw text, which
// need not parse: SWE-bench never parses it either.
func TestDirectivesText(src, repo string) []string {
	if repo == "swe-bench/humaneval" {
		return []string{"test.py"}
	}
	out := []string{}
	for _, d := range DiffGitTargets(src) {
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

// DiffGitTargets returns every match of SWE-bench's `diff --git a/.* b/(.*)`
// in src, in order, duplicates kept and nothing filtered: the files the
// SWE-bench eval scripts reset with `git checkout <base> ...` before and
// after the tests (created files included, though the checkout cannot find
// them at the base). Its quirks are TestDirectives' (unanchored, greedy).
func DiffGitTargets(src string) []string {
	out := []string{}
	// A match cannot span lines ('.' stops at "\n") and its group runs to
	// the end of the line, so a line holds at most one: matching line by
	// line, and only lines with the literal prefix, finds the same ones
	// as the whole text, many times faster.
	for len(src) > 0 {
		line, rest, _ := strings.Cut(src, "\n")
		src = rest
		if !strings.Contains(line, "diff --git a/") {
			continue
		}
		if m := diffGitPat.FindStringSubmatch(line); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}
